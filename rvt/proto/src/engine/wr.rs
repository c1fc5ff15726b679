//! Work requests as the caller posts them (`ib_send_wr` / `ib_recv_wr`
//! reduced to what the transport needs; scatter/gather lists stay with the
//! caller, keyed by the slot the post returns).

/// Send work request opcode (the transport subset of `enum ib_wr_opcode`).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum WrOpcode {
    /// `IB_WR_SEND` (RC, UC, UD).
    Send,
    /// `IB_WR_SEND_WITH_IMM` (RC, UC, UD).
    SendWithImm,
    /// `IB_WR_SEND_WITH_INV` (RC only; IBA 9.4.1.1).
    SendWithInv,
    /// `IB_WR_RDMA_WRITE` (RC, UC).
    RdmaWrite,
    /// `IB_WR_RDMA_WRITE_WITH_IMM` (RC, UC).
    RdmaWriteWithImm,
    /// `IB_WR_RDMA_READ` (RC only).
    RdmaRead,
    /// `IB_WR_ATOMIC_CMP_AND_SWP` (RC only).
    CompareSwap,
    /// `IB_WR_ATOMIC_FETCH_AND_ADD` (RC only).
    FetchAdd,
    /// `IB_WR_ATOMIC_WRITE` (RC only; IBA 1.5 memory placement extensions):
    /// the 8 bytes of the WQE's data (its `len` is 8) are stored at
    /// `remote_va` (8-byte aligned) as one single-copy atomic store.
    AtomicWrite,
    /// `IB_WR_FLUSH` (RC only; IBA 1.5): makes the data placed by earlier
    /// requests in `len` bytes at `remote_va` (or the whole region of
    /// `rkey`) visible at `placement` before it is acknowledged.
    Flush {
        /// Placement type(s) requested ([`super::Placement::is_valid`]).
        placement: super::Placement,
        /// Selectivity level.
        selectivity: super::Selectivity,
    },
}

impl WrOpcode {
    /// RDMA READ or atomic: counts against `max_rd_atomic` and is subject to
    /// the fence.
    pub const fn is_read_or_atomic(self) -> bool {
        matches!(
            self,
            WrOpcode::RdmaRead | WrOpcode::CompareSwap | WrOpcode::FetchAdd
        )
    }

    /// Atomic operation.
    pub const fn is_atomic(self) -> bool {
        matches!(self, WrOpcode::CompareSwap | WrOpcode::FetchAdd)
    }

    /// An operation of the IBA 1.5 memory placement extensions (ATOMIC
    /// WRITE, FLUSH): RC only, one PSN, acknowledged by an ACK.
    pub const fn is_placement(self) -> bool {
        matches!(self, WrOpcode::AtomicWrite | WrOpcode::Flush { .. })
    }

    /// The message consumes a receive WQE at the responder (SEND, RDMA
    /// WRITE with immediate): the messages end-to-end credits limit (IBA
    /// 9.7.7.2).
    pub const fn consumes_recv(self) -> bool {
        matches!(
            self,
            WrOpcode::Send
                | WrOpcode::SendWithImm
                | WrOpcode::SendWithInv
                | WrOpcode::RdmaWriteWithImm
        )
    }

    /// The opcode carries immediate data.
    pub const fn has_imm(self) -> bool {
        matches!(self, WrOpcode::SendWithImm | WrOpcode::RdmaWriteWithImm)
    }
}

/// Send flags (`enum ib_send_flags`, the subset the transport acts on).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash, Default)]
pub struct SendFlags(pub u32);

impl SendFlags {
    /// No flags.
    pub const NONE: SendFlags = SendFlags(0);
    /// `IB_SEND_FENCE`: wait for all earlier RDMA READs and atomics to
    /// complete before starting.
    pub const FENCE: SendFlags = SendFlags(1);
    /// `IB_SEND_SIGNALED`: generate a completion on success (IBA 10.7.3.1).
    pub const SIGNALED: SendFlags = SendFlags(1 << 1);
    /// `IB_SEND_SOLICITED`: set the solicited event bit (IBA 9.2.2).
    pub const SOLICITED: SendFlags = SendFlags(1 << 2);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: SendFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of both sets.
    #[must_use]
    pub const fn with(self, other: SendFlags) -> SendFlags {
        SendFlags(self.0 | other.0)
    }
}

/// UD destination of a send work request.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash, Default)]
pub struct UdDest {
    /// The caller's address handle (copied into [`super::Transmit::ah`]).
    pub ah: u32,
    /// Destination QP number.
    pub remote_qpn: u32,
    /// Q_Key; if bit 31 is set the QP's own Q_Key is used instead (controlled
    /// Q_Keys, IBA chapter 10).
    pub remote_qkey: u32,
}

/// A send work request.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub struct SendWr {
    /// Returned in the completion.
    pub wr_id: u64,
    /// Operation.
    pub opcode: WrOpcode,
    /// Flags.
    pub flags: SendFlags,
    /// Message length in bytes (the sum of the SGE lengths; for RDMA READ the
    /// number of bytes to read; ignored for atomics, which move 8 bytes).
    pub len: u32,
    /// Remote virtual address (RDMA and atomics).
    pub remote_va: u64,
    /// Remote R_Key (RDMA and atomics).
    pub rkey: u32,
    /// Immediate data (`SendWithImm`, `RdmaWriteWithImm`) or the R_Key to
    /// invalidate (`SendWithInv`).
    pub imm_or_inv: u32,
    /// CmpSwap: the compare value; FetchAdd: the addend.
    pub compare_add: u64,
    /// CmpSwap: the swap value.
    pub swap: u64,
    /// UD only: destination.
    pub ud: UdDest,
}

impl SendWr {
    /// A signaled work request of `opcode` with every other field zero.
    pub const fn new(wr_id: u64, opcode: WrOpcode) -> SendWr {
        SendWr {
            wr_id,
            opcode,
            flags: SendFlags::SIGNALED,
            len: 0,
            remote_va: 0,
            rkey: 0,
            imm_or_inv: 0,
            compare_add: 0,
            swap: 0,
            ud: UdDest {
                ah: 0,
                remote_qpn: 0,
                remote_qkey: 0,
            },
        }
    }
}

/// A receive WQE, handed to the engine by the caller's [`RecvQueue`] when a
/// message needs one.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub struct RecvWqe {
    /// Returned in the completion.
    pub wr_id: u64,
    /// The caller's name for the WQE (an index into its RQ or SRQ ring):
    /// used in [`super::Memory::write_recv`] and [`super::Completion::slot`].
    pub slot: u32,
    /// Capacity of the receive buffer in bytes (sum of the SGE lengths).
    pub len: u32,
}

/// Where receive WQEs come from: a QP's own receive queue or a shared
/// receive queue (SRQ) serving many QPs; implemented by the caller.
///
/// The engine takes a WQE only when a message needs one (RC/UC: the first
/// packet of a SEND, the last of an RDMA WRITE with immediate; UD: each
/// datagram) and keeps it until it completes it. A taken WQE always
/// completes exactly once (successfully, with an error, or with
/// `IB_WC_WR_FLUSH_ERR` when the QP enters Error or Reset); WQEs never
/// taken stay the caller's, so it flushes its own RQ (not an SRQ) when the
/// QP enters Error (IBA 10.3.1, 11.4) and completes posts made in Error.
pub trait RecvQueue {
    /// Removes and returns the oldest receive WQE, or `None` if the queue
    /// is empty (RC: RNR NAK, IBA 9.7.5.2.8; UC/UD: the packet is
    /// dropped). The caller's SRQ checks its limit here (the SRQ limit
    /// event of IBA 11.2.3 is the caller's).
    fn take_recv(&mut self) -> Option<RecvWqe>;

    /// The number of WQEs [`RecvQueue::take_recv`] would return now, for
    /// the end-to-end credits of IBA 9.7.7.2 ([`super::QpAttrs::flow_control`]).
    /// It must never be more than the queue holds (the responder promises
    /// the requester that many messages); fewer is safe. `None`, the
    /// default, means "not counted": a shared receive queue, whose QPs IBA
    /// 9.7.7.2 exempts from credits, so their ACKs carry the "invalid"
    /// credit code 31 and the requester treats credits as unlimited.
    fn available(&self) -> Option<u32> {
        None
    }
}

/// Why a post was refused (the verb returns an error; nothing is queued).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum PostError {
    /// The work queue is full (`-ENOMEM`).
    QueueFull,
    /// The QP state does not accept posts (`-EINVAL`; IBA 10.3.1: no sends
    /// before RTS, no receives in Reset).
    InvalidState,
    /// The opcode is not valid on this QP type (`-EINVAL`).
    InvalidOpcode,
    /// The message exceeds what the transport allows (UD: the path MTU;
    /// RETH DMA length 2^31).
    TooLong,
}
