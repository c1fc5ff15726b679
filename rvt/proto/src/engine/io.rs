//! The engine's outputs (besides the header bytes it writes): the [`Sink`]
//! the caller implements for completions and state changes, the [`Timer`]s
//! whose deadlines the engine owns,
//! the [`Transmit`] descriptor of a packet to send, and the receive metadata
//! [`RxMeta`].

use super::attr::QpState;
use super::wc::Completion;

/// The engine's timers. Each is a single deadline owned by the engine, in ns
/// on the caller's monotonic clock (the clock of every `now` argument);
/// [`super::Qp::poll_timeout`] gives the earliest, [`super::Qp::deadline`]
/// each one.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum Timer {
    /// Requester local ACK timeout (IBA 9.7.6.1.3 transport timer).
    Retransmit,
    /// Requester RNR NAK wait (IBA 9.7.5.2.8).
    Rnr,
    /// Responder ACK coalescing: the longest an owed ACK is withheld.
    Ack,
}

/// Where the engine's side effects go; implemented by the caller.
///
/// Calls happen synchronously inside the `Qp` methods that take a sink.
pub trait Sink {
    /// A work completion, in order per queue (completions of each queue
    /// are returned in work request order, IBA chapter 10).
    fn completion(&mut self, wc: &Completion);

    /// The unsignaled send WQE in `slot` (work request `wr_id`) completed
    /// successfully, which reports no completion (IBA 10.7.3.1). The caller
    /// releases what it keeps for the WQE (its scatter/gather list); a later
    /// [`super::Qp::post_send`] may hand the slot out again. Every send WQE
    /// ends with exactly one call: this or [`Sink::completion`].
    fn send_slot_released(&mut self, slot: u32, wr_id: u64);

    /// The engine moved the QP to `state` on its own (only ever `Error`,
    /// after a fatal transport error; IBA 10.3.1). The caller reflects it in
    /// `ib_query_qp` and may raise an asynchronous event.
    fn state_changed(&mut self, state: QpState);
}

/// Where the payload of a packet to transmit comes from. The caller copies
/// it after the headers, then appends [`Transmit::pad`] zero bytes and the
/// ICRC.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum Payload {
    /// No payload.
    None,
    /// Bytes `offset .. offset + len` of the local data (SGE list) of the
    /// send WQE in `slot` (SEND and RDMA WRITE packets).
    Local {
        /// Send WQE slot.
        slot: u32,
        /// Byte offset within the WQE's data.
        offset: u32,
        /// Length.
        len: u32,
    },
    /// `len` bytes at `va` of the region named by `rkey` (an RDMA READ
    /// response; the range was checked with `Memory::check_remote` when the
    /// request arrived).
    Remote {
        /// R_Key of the region.
        rkey: u32,
        /// Virtual address.
        va: u64,
        /// Length.
        len: u32,
    },
}

impl Payload {
    /// Payload length in bytes.
    pub const fn len(&self) -> u32 {
        match *self {
            Payload::None => 0,
            Payload::Local { len, .. } | Payload::Remote { len, .. } => len,
        }
    }

    /// True if there are no payload bytes.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Maximum length of the headers [`super::Qp::poll_transmit`] writes: BTH +
/// AtomicETH (40 bytes) is the longest combination the engine sends.
pub const MAX_HEADER_LEN: usize = 40;

/// A packet to transmit: the headers are in the caller's buffer.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub struct Transmit {
    /// Bytes of BTH and extension headers written to the buffer.
    pub header_len: usize,
    /// Payload copy descriptor.
    pub payload: Payload,
    /// Zero pad bytes after the payload (the BTH PadCnt; IBA 9.2.4).
    pub pad: u8,
    /// UD: the address handle of the work request; RC/UC: 0 (the QP's path).
    pub ah: u32,
}

/// Metadata of a received packet that is not in the transport headers.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash, Default)]
pub struct RxMeta<'a> {
    /// UD: the 40 bytes to place in the GRH slot of the receive buffer (the
    /// GRH, or for RoCEv2 the IP header laid out as `rdma_network_hdr`);
    /// `None` if the packet had no GRH (the slot is left alone and
    /// `IB_WC_GRH` is not set).
    pub grh: Option<&'a [u8; 40]>,
}

/// RC attributes in RTS (defaults otherwise), for the engine's unit tests.
#[cfg(test)]
pub(super) fn rts_rc_attrs() -> super::attr::QpAttrs {
    let mut attrs = super::attr::QpAttrs::new(super::attr::QpType::Rc, 1);
    attrs.state = QpState::Rts;
    attrs
}
