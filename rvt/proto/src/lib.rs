//! rvt/proto: the sans-IO InfiniBand transport engine of rvt.
//!
//! This file is the crate root on the host (`cargo test`) and a plain module
//! (`rvt::proto`) inside rvt.ko, which includes it with `#[path]`. Therefore
//! code in this crate never names `crate::`: sibling modules are reached with
//! `super::`, so the same source compiles in both places.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

// Wire formats (IBA vol. 1, chapters 7 to 9).
pub mod aeth;
pub mod headers;
pub mod icrc;
pub mod link;
pub mod opcode;
pub mod packet;
pub mod psn;

// The transport engine.
pub mod engine;

// Subnet and performance management of a native IB port (IBA chapters
// 14 and 16).
pub mod pma;
pub mod sma;
