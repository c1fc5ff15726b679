//! Work completions: `ib_wc` status, opcode and flag values, numerically
//! identical to the Linux `enum ib_wc_status`, `enum ib_wc_opcode` and
//! `enum ib_wc_flags` (the uverbs ABI fixes them), so the kernel glue copies
//! them unchanged.
//!
//! Completion semantics follow IBA vol. 1, 10.7.3 (completions) and the
//! work completion status list of the verbs chapter 11.

/// Completion status (`enum ib_wc_status`).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
#[repr(u32)]
pub enum WcStatus {
    /// `IB_WC_SUCCESS`.
    Success = 0,
    /// `IB_WC_LOC_LEN_ERR`: a receive buffer too small for the message.
    LocLenErr = 1,
    /// `IB_WC_LOC_QP_OP_ERR`: an internal QP consistency error.
    LocQpOpErr = 2,
    /// `IB_WC_LOC_PROT_ERR`: a local memory protection error (the caller's
    /// [`super::Memory`] refused a local write).
    LocProtErr = 4,
    /// `IB_WC_WR_FLUSH_ERR`: the work request was flushed because the QP is in
    /// the error state (IBA 10.3.1).
    WrFlushErr = 5,
    /// `IB_WC_BAD_RESP_ERR`: an unexpected transport opcode or length in a
    /// response (IBA 9.9).
    BadRespErr = 7,
    /// `IB_WC_LOC_ACCESS_ERR`: local access error.
    LocAccessErr = 8,
    /// `IB_WC_REM_INV_REQ_ERR`: the responder NAKed with "invalid request".
    RemInvReqErr = 9,
    /// `IB_WC_REM_ACCESS_ERR`: the responder NAKed with "remote access error".
    RemAccessErr = 10,
    /// `IB_WC_REM_OP_ERR`: the responder NAKed with "remote operational error".
    RemOpErr = 11,
    /// `IB_WC_RETRY_EXC_ERR`: transport retry counter exceeded (IBA 9.7.6.1.3).
    RetryExcErr = 12,
    /// `IB_WC_RNR_RETRY_EXC_ERR`: RNR retry counter exceeded (IBA 9.7.5.2.8).
    RnrRetryExcErr = 13,
    /// `IB_WC_REM_INV_RD_REQ_ERR`.
    RemInvRdReqErr = 15,
    /// `IB_WC_FATAL_ERR`.
    FatalErr = 19,
    /// `IB_WC_GENERAL_ERR`.
    GeneralErr = 21,
}

/// Completion opcode (`enum ib_wc_opcode`).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
#[repr(u32)]
pub enum WcOpcode {
    /// `IB_WC_SEND` (also SEND with immediate / with invalidate).
    Send = 0,
    /// `IB_WC_RDMA_WRITE` (also RDMA WRITE with immediate).
    RdmaWrite = 1,
    /// `IB_WC_RDMA_READ`.
    RdmaRead = 2,
    /// `IB_WC_COMP_SWAP`.
    CompSwap = 3,
    /// `IB_WC_FETCH_ADD`.
    FetchAdd = 4,
    /// `IB_WC_FLUSH` (IBA 1.5 RDMA FLUSH).
    Flush = 8,
    /// `IB_WC_ATOMIC_WRITE` (IBA 1.5 RDMA ATOMIC WRITE).
    AtomicWrite = 9,
    /// `IB_WC_RECV`: a receive WQE consumed by a SEND.
    Recv = 128,
    /// `IB_WC_RECV_RDMA_WITH_IMM`: a receive WQE consumed by an RDMA WRITE
    /// with immediate data.
    RecvRdmaWithImm = 129,
}

/// Completion flags (`enum ib_wc_flags`), a bit set.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash, Default)]
pub struct WcFlags(pub u32);

impl WcFlags {
    /// No flags.
    pub const NONE: WcFlags = WcFlags(0);
    /// `IB_WC_GRH`: the first 40 bytes of the receive buffer hold a GRH (UD).
    pub const GRH: WcFlags = WcFlags(1);
    /// `IB_WC_WITH_IMM`: `ex` holds immediate data.
    pub const WITH_IMM: WcFlags = WcFlags(1 << 1);
    /// `IB_WC_WITH_INVALIDATE`: `ex` holds the invalidated R_Key.
    pub const WITH_INVALIDATE: WcFlags = WcFlags(1 << 2);

    /// True if every bit of `other` is set in `self`.
    pub const fn contains(self, other: WcFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of both sets.
    #[must_use]
    pub const fn with(self, other: WcFlags) -> WcFlags {
        WcFlags(self.0 | other.0)
    }
}

/// Which work queue a completion belongs to.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum Queue {
    /// The send queue (requester side).
    Send,
    /// The receive queue (responder side).
    Recv,
}

/// One work completion, as handed to [`super::Sink::completion`].
///
/// Fields the engine does not know (`qp`, `slid`, `sl`, `pkey_index`,
/// `port_num`, network header type, VLAN, SMAC) are filled in by the caller;
/// receive completions are reported synchronously inside
/// [`super::Qp::receive`], so the caller still has the packet's metadata.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub struct Completion {
    /// Send or receive queue.
    pub queue: Queue,
    /// The caller's work request id.
    pub wr_id: u64,
    /// The WQE's slot: the send ring slot [`super::Qp::post_send`]
    /// returned, or the receive WQE's [`super::RecvWqe::slot`]; free again
    /// once this completion is seen.
    pub slot: u32,
    /// Completion status.
    pub status: WcStatus,
    /// Completion opcode. For error completions IBA leaves it undefined; the
    /// engine still reports the WQE's opcode.
    pub opcode: WcOpcode,
    /// Bytes transferred: the message length for sends, RDMA WRITEs and
    /// RDMA READs, 8 for atomics, the received length (plus 40 for the UD
    /// GRH slot) for receives, the RDMA WRITE length for
    /// `RecvRdmaWithImm`.
    pub byte_len: u32,
    /// `WITH_IMM`, `WITH_INVALIDATE`, `GRH`.
    pub flags: WcFlags,
    /// Immediate data (the 32-bit value of the ImmDt field read big-endian)
    /// or the invalidated R_Key, as selected by `flags`; 0 otherwise.
    pub ex: u32,
    /// Source QP number (UD receives; 0 otherwise).
    pub src_qp: u32,
    /// The message had the solicited event bit set (receive side; for
    /// `IB_CQ_SOLICITED` notification).
    pub solicited: bool,
}
