// SPDX-License-Identifier: GPL-2.0

//! rvt: a generic software RDMA transport.
//!
//! rvt.ko registers an InfiniBand device with ib_core for every device a
//! backend module (rvt_roce, ...) creates through the API of
//! include/rvt/backend.h, and owns the transport; backends only move packets.
//! See Documentation/architecture.md.

use kernel::prelude::*;

mod backend;
#[path = "../include/rvt/bindings.rs"]
mod bindings;
mod device;
mod ib;
#[cfg(CONFIG_KUNIT)]
mod kunit_tests;
/// The transport engine: the host-tested crate in rvt/proto, compiled here
/// as a module (its crate-level `#![no_std]` only matters on the host).
#[allow(unused_attributes)]
#[path = "proto/src/lib.rs"]
pub mod proto;
mod rxe_guard;
mod transport;
mod uapi;
mod verbs;

module! {
    type: Rvt,
    name: "rvt",
    authors: ["rvt developers"],
    description: "Generic software RDMA transport (InfiniBand verbs provider)",
    license: "GPL",
}

struct Rvt {
    _rxe_guard: rxe_guard::RxeGuard,
}

impl kernel::Module for Rvt {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // The notifier first, so rdma_rxe cannot slip in after the check.
        let guard = rxe_guard::RxeGuard::register()?;
        if rxe_guard::rxe_present() {
            pr_err!("rdma_rxe is loaded: rvt and rdma_rxe both drive RDMA_DRIVER_RXE devices and cannot share a kernel; unload rdma_rxe first\n");
            return Err(EBUSY);
        }
        backend::registry::init();
        pr_info!("loaded\n");
        Ok(Rvt { _rxe_guard: guard })
    }
}

impl Drop for Rvt {
    fn drop(&mut self) {
        backend::registry::exit();
    }
}
