// SPDX-License-Identifier: GPL-2.0

//! Per-port counters, shown by `rdma statistic show link DEV/PORT`
//! (ib_core's hw-stats interface).

use kernel::{
    str::CStr,
    sync::atomic::{Atomic, Relaxed},
};

use crate::bindings as b;

/// What is counted of received packets. The discriminant is the counter's
/// index in ib_core's `rdma_hw_stats` of the port.
#[derive(Clone, Copy)]
#[repr(usize)]
pub(crate) enum RxCounter {
    /// Packets handed to rvt by the backend, whatever became of them.
    Packets,
    /// Their bytes as the backend handed them (from the BTH on, ICRC
    /// removed, when its checks passed; as received otherwise).
    Bytes,
    /// Dropped: the ICRC (VCRC) did not match.
    IcrcErrors,
    /// Dropped: outer headers or BTH and extension headers malformed.
    Malformed,
    /// Dropped: no QP has the destination QPN.
    NoQp,
    /// Dropped: the QP exists but does not take packets yet (no transport).
    QpNotReady,
}

/// The names `rdma statistic` shows, in [`RxCounter`] order.
const NAMES: [&CStr; 6] = [
    c"rx_packets",
    c"rx_bytes",
    c"rx_icrc_errors",
    c"rx_malformed",
    c"rx_no_qp",
    c"rx_qp_not_ready",
];

/// ib_core's descriptors of the counters.
pub(crate) struct Descs([b::rdma_stat_desc; NAMES.len()]);

// SAFETY: The descriptors only point to the 'static names above.
unsafe impl Sync for Descs {}

const fn descs() -> Descs {
    let mut descs = [b::rdma_stat_desc {
        name: core::ptr::null(),
        flags: 0,
        priv_: core::ptr::null(),
    }; NAMES.len()];
    let mut i = 0;
    while i < NAMES.len() {
        descs[i].name = NAMES[i].to_bytes_with_nul().as_ptr().cast();
        i += 1;
    }
    Descs(descs)
}

/// The descriptors, for `rdma_alloc_hw_stats_struct`.
pub(crate) static DESCS: Descs = descs();

impl Descs {
    pub(crate) fn as_slice(&self) -> &[b::rdma_stat_desc] {
        &self.0
    }
}

/// The counters of one port.
pub(crate) struct PortCounters([Atomic<u64>; NAMES.len()]);

impl PortCounters {
    pub(crate) fn new() -> Self {
        Self([const { Atomic::new(0) }; NAMES.len()])
    }

    /// Adds `n` to `counter`. Any context.
    pub(crate) fn add(&self, counter: RxCounter, n: u64) {
        if let Some(value) = self.0.get(counter as usize) {
            value.add(n, Relaxed);
        }
    }

    /// One counter's value.
    pub(crate) fn get(&self, counter: RxCounter) -> u64 {
        self.0.get(counter as usize).map_or(0, |v| v.load(Relaxed))
    }

    /// Every value, in [`RxCounter`] order.
    pub(crate) fn read(&self, out: &mut [u64]) {
        for (out, value) in out.iter_mut().zip(self.0.iter()) {
            *out = value.load(Relaxed);
        }
    }
}
