//! What [`super::Qp::receive`] did with a packet: one [`Verdict`] per call,
//! so the caller can count each outcome (rvt.ko turns them into
//! `rdma statistic` counters).

/// The outcome of one received packet.
#[must_use = "count the verdict (each reason is a counter)"]
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum Verdict {
    /// Executed (a request at the expected PSN) or processed (a response,
    /// ACK or NAK inside the outstanding window).
    Accepted,
    /// A duplicate, not executed again (IBA 9.7.5.2, C9-105): a SEND/WRITE
    /// re-ACKed, a READ or atomic replayed from the responder resources, or
    /// a response for a PSN already acknowledged.
    Duplicate,
    /// Out of sequence (IBA 9.7.5): a request ahead of the expected PSN, NAKed
    /// with a PSN sequence error for the first packet of the gap
    /// (`nak_sent`) and dropped silently after that; a UC packet after a gap;
    /// a READ response or ATOMIC ACK that shows earlier responses were lost
    /// (the READ/atomic is re-requested).
    OutOfSequence {
        /// This packet caused a sequence-error NAK.
        nak_sent: bool,
    },
    /// No receive WQE for a SEND or RDMA WRITE with immediate: RNR NAKed
    /// (IBA 9.7.5.2.8).
    RnrNak,
    /// Not executed yet, nothing changed (IBA 9.5: requests execute in PSN
    /// order): an RC request at the expected PSN that writes memory (SEND,
    /// RDMA WRITE, atomic) arrived while RDMA READ responses are still to
    /// be transmitted, whose payload the caller copies only when it sends
    /// them. The caller keeps this packet and every later one for the QP,
    /// in order, and delivers them again once [`super::Qp::poll_transmit`]
    /// returned `None`. (Dropping it instead is safe but slow: the
    /// requester retransmits after a sequence NAK or its timeout.)
    Deferred,
    /// Not executed for `reason`. For an RC request this also means the
    /// responder NAKed it and the QP entered Error (reported through
    /// [`super::Sink::state_changed`]) unless the reason is one of the silent
    /// header validation drops (transport, QPN, P_Key, state).
    Dropped(DropReason),
}

/// Why a packet was dropped (see [`Verdict::Dropped`]).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum DropReason {
    /// The opcode belongs to another transport service than the QP's.
    WrongTransport,
    /// The BTH DestQP is not this QP (nor the multicast QPN on UD).
    WrongQpn,
    /// The BTH P_Key does not match the QP's (IBA 9.6).
    PKey,
    /// The QP's state does not receive this packet (Reset, Init, Error;
    /// responses in RTR), or the responder stopped after a fatal error.
    State,
    /// UD: the DETH Q_Key is not the QP's (IBA 9.6).
    QKey,
    /// The payload length breaks the rules of its opcode (IBA 9.4: First
    /// and Middle exactly the MTU, Last and Only at most the MTU), of the
    /// RETH DMA length, or the RETH DMA length exceeds 2^31.
    Length,
    /// A Middle/Last without the First of the same operation, or a
    /// First/Only inside another message (the opcode sequence check of
    /// IBA 9.7 / 9.9).
    OpcodeSequence,
    /// An opcode this QP does not execute (e.g. on UD anything but SEND;
    /// on UC a READ, atomic, ATOMIC WRITE or FLUSH).
    Opcode,
    /// The QP's access flags do not allow the operation.
    Access,
    /// The R_Key or range check of `Memory` failed (remote access error).
    RKey,
    /// An atomic whose VA is not 8-byte aligned (IBA 9.4.4).
    Alignment,
    /// A FLUSH with an empty or reserved placement type or a reserved
    /// selectivity level (IBA 1.5 memory placement extensions, FETH).
    FlushType,
    /// More READ/atomic requests outstanding than `max_dest_rd_atomic`.
    TooManyRdAtomic,
    /// UC/UD: no receive WQE for a SEND (or a UC RDMA WRITE with immediate).
    NoReceiveWqe,
    /// The receive WQE is too small for the message (`IB_WC_LOC_LEN_ERR`).
    ReceiveTooSmall,
    /// `Memory` failed to place data locally (a receive WQE or an RDMA
    /// WRITE target: remote operational error).
    LocalPlacement,
    /// SEND with Invalidate: the invalidation failed.
    Invalidate,
    /// UC: a packet of a message already abandoned after a gap or an
    /// invalid packet (IBA 9.8).
    MessageAbandoned,
    /// RC: a duplicate READ/atomic that is no longer in the responder
    /// resources, or a duplicate READ that is not a subset of the original.
    UnknownDuplicate,
    /// A response outside the outstanding PSN window (a ghost), or one that
    /// does not match the WQE its PSN names.
    UnexpectedResponse,
    /// A response with an opcode, length or syndrome the WQE does not allow
    /// (`IB_WC_BAD_RESP_ERR`; the QP entered Error).
    BadResponse,
    /// An AETH syndrome with a reserved code.
    BadSyndrome,
    /// The engine found its own state inconsistent (a bug): the QP entered
    /// Error instead of acting on it.
    Internal,
}
