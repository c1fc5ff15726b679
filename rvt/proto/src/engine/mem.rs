//! The memory interface the caller implements.
//!
//! The engine never owns or touches payload memory directly: memory region
//! lookups, R_Key checks, payload placement and atomics all go through
//! [`Memory`]. In rvt.ko it is backed by MRs/MWs and the WQEs' SGE lists; in
//! the host tests by plain vectors. Reading payload for transmission is not
//! part of it: [`super::Qp::poll_transmit`] returns a copy descriptor
//! ([`super::Payload`]) and the caller copies the bytes itself.

/// Access a remote request asks for (the memory access rights of IBA
/// chapter 10).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum RemoteAccess {
    /// RDMA READ (`IB_ACCESS_REMOTE_READ`).
    Read,
    /// RDMA WRITE (`IB_ACCESS_REMOTE_WRITE`).
    Write,
    /// Atomic operation (`IB_ACCESS_REMOTE_ATOMIC`).
    Atomic,
}

/// The placement type of an RDMA FLUSH (IBA 1.5 memory placement
/// extensions, FETH bits 3:0), a bit set; the MR rights
/// `IB_ACCESS_FLUSH_GLOBAL` / `IB_ACCESS_FLUSH_PERSISTENT` grant each.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash, Default)]
pub struct Placement(pub u8);

impl Placement {
    /// Global visibility (bit 0): the data is visible to every later
    /// access, whoever makes it.
    pub const GLOBAL: Placement = Placement(1);
    /// Persistence (bit 1): the data survives a power failure.
    pub const PERSISTENT: Placement = Placement(1 << 1);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: Placement) -> bool {
        self.0 & other.0 == other.0
    }

    /// A placement type a FLUSH may carry: at least one of the two types,
    /// no reserved bit (bits 3:2).
    pub const fn is_valid(self) -> bool {
        self.0 != 0 && self.0 & !(Placement::GLOBAL.0 | Placement::PERSISTENT.0) == 0
    }
}

/// The selectivity level of an RDMA FLUSH (IBA 1.5, FETH bits 5:4; 2 and 3
/// are reserved).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum Selectivity {
    /// The range of the RETH (VA and DMA length) inside the region (0).
    Range,
    /// The whole memory region named by the R_Key; VA and length are
    /// ignored (1).
    Region,
}

impl Selectivity {
    /// The 2-bit FETH value.
    pub const fn level(self) -> u8 {
        match self {
            Selectivity::Range => 0,
            Selectivity::Region => 1,
        }
    }

    /// From the FETH value; `None` if reserved.
    pub const fn from_level(level: u8) -> Option<Selectivity> {
        match level {
            0 => Some(Selectivity::Range),
            1 => Some(Selectivity::Region),
            _ => None,
        }
    }
}

/// Why a memory operation failed.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum MemError {
    /// The R_Key is invalid, lacks the access right, or the range is outside
    /// the region (the responder answers with a "remote access error"
    /// NAK, IBA 9.7.5.1).
    Access,
    /// The local buffer (receive WQE or the send WQE's SGE list) cannot take
    /// the data (`IB_WC_LOC_PROT_ERR`).
    Local,
    /// Any other failure (`IB_WC_REM_OP_ERR` on the remote side).
    Operational,
}

/// An atomic operation on 8 bytes of remote memory (IBA 9.4.4).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum AtomicOp {
    /// CmpSwap: if the value equals `compare`, store `swap`.
    CompareSwap {
        /// Value compared with memory.
        compare: u64,
        /// Value stored on a match.
        swap: u64,
    },
    /// FetchAdd: add `add` (wrapping).
    FetchAdd {
        /// Addend.
        add: u64,
    },
}

impl AtomicOp {
    /// The new memory value for the original value `orig` (the arithmetic
    /// of IBA 9.4.4; a helper for implementations of [`Memory::atomic`]).
    pub const fn apply(self, orig: u64) -> u64 {
        match self {
            AtomicOp::CompareSwap { compare, swap } => {
                if orig == compare {
                    swap
                } else {
                    orig
                }
            }
            AtomicOp::FetchAdd { add } => orig.wrapping_add(add),
        }
    }
}

/// Memory access the engine needs; implemented by the caller.
///
/// `slot` arguments name a WQE: for send WQEs the ring slot that
/// [`super::Qp::post_send`] returned, for receive WQEs the
/// [`super::RecvWqe::slot`] the caller's receive queue gave; the caller keeps
/// the WQE's scatter/gather list under that slot until the WQE's completion.
pub trait Memory {
    /// Checks that `len` bytes at `va` lie inside the memory region or window
    /// named by `rkey` and that it grants `access` (IBA 9.4.2 / 9.4.3: R_Key
    /// validation on the first packet of an RDMA request, against the whole
    /// RETH range).
    fn check_remote(
        &mut self,
        rkey: u32,
        va: u64,
        len: u32,
        access: RemoteAccess,
    ) -> Result<(), MemError>;

    /// Copies `data` to `va` inside the region named by `rkey` (an RDMA
    /// WRITE packet; the range was validated by [`Memory::check_remote`] on
    /// the first packet, but the region may have gone away since).
    fn write_remote(&mut self, rkey: u32, va: u64, data: &[u8]) -> Result<(), MemError>;

    /// Validates `rkey`/`va` for an 8-byte atomic and executes `op`
    /// atomically with respect to other atomics on the same device, returning
    /// the original value (IBA 9.4.4).
    fn atomic(&mut self, rkey: u32, va: u64, op: AtomicOp) -> Result<u64, MemError>;

    /// RDMA ATOMIC WRITE (IBA 1.5 memory placement extensions): checks
    /// that the 8 bytes at `va` lie inside the region named by `rkey` and
    /// that it grants remote writes (the caller's MR rights for ATOMIC
    /// WRITE), then stores `value` (the packet's 8 payload bytes, in wire
    /// order) with one 8-byte store that no access sees torn (single-copy
    /// atomic). `va` is 8-byte aligned (the engine checked). Called once
    /// per ATOMIC WRITE: a duplicate is acknowledged, never executed again.
    fn atomic_write(&mut self, rkey: u32, va: u64, value: [u8; 8]) -> Result<(), MemError>;

    /// RDMA FLUSH (IBA 1.5 memory placement extensions): checks `rkey`
    /// (for [`Selectivity::Range`] also that `len` bytes at `va` lie inside
    /// its region; for [`Selectivity::Region`] `va` and `len` are
    /// meaningless) and that the region grants flushing for every type in
    /// `placement` (`IB_ACCESS_FLUSH_GLOBAL`, `IB_ACCESS_FLUSH_PERSISTENT`;
    /// else [`MemError::Access`]); then, before it returns, makes every byte
    /// placed earlier in that range (or region) globally visible, and for
    /// [`Placement::PERSISTENT`] persistent. The engine has placed every
    /// earlier request of the QP by then (IBA 9.5 order) and acknowledges
    /// the FLUSH only after this returns. A zero-length range is not
    /// passed (it names no bytes, like zero-length RDMA). `placement` is
    /// valid ([`Placement::is_valid`]).
    fn flush(
        &mut self,
        rkey: u32,
        va: u64,
        len: u32,
        selectivity: Selectivity,
        placement: Placement,
    ) -> Result<(), MemError>;

    /// Invalidates `rkey` (SEND with Invalidate, IBA 9.4.1).
    fn invalidate(&mut self, rkey: u32) -> Result<(), MemError>;

    /// Copies `data` to byte `offset` of the receive WQE in `slot`.
    fn write_recv(&mut self, slot: u32, offset: u32, data: &[u8]) -> Result<(), MemError>;

    /// Copies `data` to byte `offset` of the local buffer of the send WQE in
    /// `slot`: RDMA READ response data, or the 8-byte original value of an
    /// atomic (in native byte order, `u64::to_ne_bytes`).
    fn write_send(&mut self, slot: u32, offset: u32, data: &[u8]) -> Result<(), MemError>;
}
