// SPDX-License-Identifier: GPL-2.0

//! Per-port counters, shown by `rdma statistic show link DEV/PORT`
//! (ib_core's hw-stats interface).

use kernel::{
    str::CStr,
    sync::atomic::{Atomic, Relaxed},
};

use crate::bindings as b;

/// What is counted, per port. The discriminant is the counter's index in
/// ib_core's `rdma_hw_stats` of the port.
#[derive(Clone, Copy)]
#[repr(usize)]
pub(crate) enum Counter {
    /// Packets handed to rvt by the backend, whatever became of them.
    RxPackets,
    /// Their bytes as the backend handed them (from the BTH on, ICRC
    /// removed, when its checks passed; as received otherwise).
    RxBytes,
    /// Dropped: the ICRC (VCRC) did not match.
    RxIcrcErrors,
    /// Dropped: outer headers or BTH and extension headers malformed.
    RxMalformed,
    /// Dropped: no QP has the destination QPN.
    RxNoQp,
    /// Dropped: the QP's state does not receive (Reset, Init, Error).
    RxQpNotReady,
    /// Dropped by the transport for another reason than the QP's state:
    /// the sum of the `rx_drop_*` counters below.
    RxDropped,
    /// Dropped: the P_Key (IBA 9.6) or Q_Key (UD) did not match.
    RxDropKey,
    /// Dropped: a payload length its opcode does not allow (IBA 9.4).
    RxDropLength,
    /// Dropped: another service's opcode, one the QP does not execute, or
    /// out of the opcode sequence (IBA 9.7, 9.8).
    RxDropOpcode,
    /// Dropped: the QP's rights, an R_Key, alignment or resource limit
    /// refused the request (NAKed).
    RxDropAccess,
    /// Dropped: no receive WQE (UC/UD) or one too small, or its memory
    /// refused the data.
    RxDropReceiveBuffer,
    /// Dropped: a response the requester did not expect or that broke its
    /// rules.
    RxDropResponse,
    /// Dropped: anything else (a QPN mismatch, an internal check).
    RxDropOther,
    /// Duplicates (retransmissions of requests already executed, responses
    /// already seen), not executed again.
    RxDuplicates,
    /// Requests or responses out of sequence (a packet was lost before them).
    RxOutOfSequence,
    /// PSN sequence error NAKs this responder sent.
    RxSeqNaksSent,
    /// RNR NAKs this responder sent (no receive WQE).
    RxRnrNaksSent,
    /// PSN sequence error NAKs this requester received (and acted on).
    RxSeqNaksReceived,
    /// RNR NAKs this requester received (and acted on).
    RxRnrNaksReceived,
    /// Requests that arrived while RDMA READ responses were still owed
    /// (IBA 9.5 ordering), kept and executed after them.
    RxDeferred,
    /// Packets that would have waited behind a deferred one but found the
    /// QP's queue for them full: dropped for the requester to retransmit.
    RxDeferredDropped,
    /// Packets the backend took.
    TxPackets,
    /// Their bytes from the BTH on (ICRC excluded).
    TxBytes,
    /// Transmissions the backend refused as busy, sent again shortly.
    TxBusy,
    /// Packets lost before the wire: no path, no buffer, a backend error.
    TxErrors,
    /// Packets dropped because their payload could not be read (an MR gone).
    TxCopyErrors,
    /// Local ACK timeouts: requests sent again (IBA 9.7.6.1.3).
    RetransmitTimeouts,
}

/// The names `rdma statistic` shows, in [`Counter`] order.
const NAMES: [&CStr; 28] = [
    c"rx_packets",
    c"rx_bytes",
    c"rx_icrc_errors",
    c"rx_malformed",
    c"rx_no_qp",
    c"rx_qp_not_ready",
    c"rx_dropped",
    c"rx_drop_key",
    c"rx_drop_length",
    c"rx_drop_opcode",
    c"rx_drop_access",
    c"rx_drop_receive_buffer",
    c"rx_drop_response",
    c"rx_drop_other",
    c"rx_duplicates",
    c"rx_out_of_sequence",
    c"rx_seq_naks_sent",
    c"rx_rnr_naks_sent",
    c"rx_seq_naks_received",
    c"rx_rnr_naks_received",
    c"rx_deferred",
    c"rx_deferred_dropped",
    c"tx_packets",
    c"tx_bytes",
    c"tx_busy",
    c"tx_errors",
    c"tx_copy_errors",
    c"retransmit_timeouts",
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
    pub(crate) fn add(&self, counter: Counter, n: u64) {
        if let Some(value) = self.0.get(counter as usize) {
            value.add(n, Relaxed);
        }
    }

    /// One counter's value.
    #[cfg_attr(not(CONFIG_KUNIT), allow(dead_code))]
    pub(crate) fn get(&self, counter: Counter) -> u64 {
        self.0.get(counter as usize).map_or(0, |v| v.load(Relaxed))
    }

    /// Every value, in [`Counter`] order.
    pub(crate) fn read(&self, out: &mut [u64]) {
        for (out, value) in out.iter_mut().zip(self.0.iter()) {
            *out = value.load(Relaxed);
        }
    }
}
