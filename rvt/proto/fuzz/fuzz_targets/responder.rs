//! Fuzz target: one QP (RC, UC or UD, chosen by the first byte) driven by
//! arbitrary event sequences: raw and structured packets, posts, timers and
//! transmit polls. The harness is shared with `tests/engine_fuzz.rs`, which
//! replays saved crashes in `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/responder_harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
