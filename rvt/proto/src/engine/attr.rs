//! QP type, state and attributes (IBA vol. 1, 10.2.4 / 11.2.4; the state
//! diagram of 10.3.1).

/// QP transport service.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum QpType {
    /// Reliable Connection.
    Rc,
    /// Unreliable Connection.
    Uc,
    /// Unreliable Datagram (including the GSI QP1, see [`QpAttrs::qpn`]).
    Ud,
}

/// QP state (IBA 10.3.1, `enum ib_qp_state` order).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum QpState {
    /// Reset.
    Reset,
    /// Initialized: receives may be posted, nothing is processed.
    Init,
    /// Ready To Receive: the responder runs.
    Rtr,
    /// Ready To Send: requester and responder run.
    Rts,
    /// Send Queue Drain: no new send WQEs are started (IBA 10.3.1.4).
    Sqd,
    /// Send Queue Error (UC/UD only).
    Sqe,
    /// Error: everything is flushed (IBA 10.3.1).
    Error,
}

/// Path MTU (`enum ib_mtu`).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum Mtu {
    /// 256 bytes (`IB_MTU_256` = 1).
    M256,
    /// 512 bytes.
    M512,
    /// 1024 bytes.
    M1024,
    /// 2048 bytes.
    M2048,
    /// 4096 bytes (`IB_MTU_4096` = 5).
    M4096,
}

impl Mtu {
    /// Payload bytes per packet.
    pub const fn bytes(self) -> u32 {
        match self {
            Mtu::M256 => 256,
            Mtu::M512 => 512,
            Mtu::M1024 => 1024,
            Mtu::M2048 => 2048,
            Mtu::M4096 => 4096,
        }
    }

    /// From the `enum ib_mtu` value (1..=5).
    pub const fn from_ib(v: u32) -> Option<Mtu> {
        Some(match v {
            1 => Mtu::M256,
            2 => Mtu::M512,
            3 => Mtu::M1024,
            4 => Mtu::M2048,
            5 => Mtu::M4096,
            _ => return None,
        })
    }

    /// The largest MTU not above `bytes` (None below 256).
    pub const fn from_bytes(bytes: u32) -> Option<Mtu> {
        Some(if bytes >= 4096 {
            Mtu::M4096
        } else if bytes >= 2048 {
            Mtu::M2048
        } else if bytes >= 1024 {
            Mtu::M1024
        } else if bytes >= 512 {
            Mtu::M512
        } else if bytes >= 256 {
            Mtu::M256
        } else {
            return None;
        })
    }
}

/// QP access flags (`enum ib_access_flags`, the remote subset).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash, Default)]
pub struct AccessFlags(pub u32);

impl AccessFlags {
    /// `IB_ACCESS_REMOTE_WRITE`.
    pub const REMOTE_WRITE: AccessFlags = AccessFlags(1 << 1);
    /// `IB_ACCESS_REMOTE_READ`.
    pub const REMOTE_READ: AccessFlags = AccessFlags(1 << 2);
    /// `IB_ACCESS_REMOTE_ATOMIC`.
    pub const REMOTE_ATOMIC: AccessFlags = AccessFlags(1 << 3);
    /// All three remote rights.
    pub const ALL_REMOTE: AccessFlags = AccessFlags((1 << 1) | (1 << 2) | (1 << 3));

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: AccessFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// The GSI QP number: QP1 carries general services MADs (IBA chapter 13).
pub const GSI_QPN: u32 = 1;
/// The well-known GSI Q_Key: QP1 accepts only Q_Key 0x80010000 (IBA
/// chapter 13, general services interface).
pub const GSI_QKEY: u32 = 0x8001_0000;
/// The UD multicast destination QPN 0xFFFFFF (IBA 9.2.7).
pub const MULTICAST_QPN: u32 = 0x00ff_ffff;

/// The attributes the engine uses. Engine-tuning fields (`ack_delay_ns`,
/// `ack_req_interval`) are not IB attributes and default to sane values.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub struct QpAttrs {
    /// Transport service.
    pub qp_type: QpType,
    /// This QP's number (the source QPN in a DETH).
    pub qpn: u32,
    /// Current state.
    pub state: QpState,
    /// Remote QP number (RC/UC).
    pub dest_qpn: u32,
    /// Path MTU.
    pub path_mtu: Mtu,
    /// The `sq_psn` last set by Modify QP (the live value is
    /// [`QpStatus::send_psn`]).
    pub sq_psn: u32,
    /// The `rq_psn` last set by Modify QP (the live value is
    /// [`QpStatus::expected_psn`]).
    pub rq_psn: u32,
    /// Local ACK timeout exponent: 4.096 µs × 2^timeout, 0 = infinite
    /// (IBA 9.7.6.1.3).
    pub timeout: u8,
    /// Transport retry count 0..=7 (IBA 9.7.6.1.3).
    pub retry_cnt: u8,
    /// RNR retry count 0..=7, 7 = infinite (IBA 9.7.5.2.8).
    pub rnr_retry: u8,
    /// RNR NAK timer code this QP's responder advertises (IBA 9.7.5.2.8
    /// Table 45).
    pub min_rnr_timer: u8,
    /// Outstanding RDMA READ/atomic requests this requester may have.
    pub max_rd_atomic: u8,
    /// RDMA READ/atomic requests this responder keeps resources for.
    pub max_dest_rd_atomic: u8,
    /// Remote access rights granted by this QP.
    pub access: AccessFlags,
    /// Q_Key (UD).
    pub qkey: u32,
    /// P_Key value (from the P_Key table index) the QP uses and checks.
    pub pkey: u16,
    /// Every send WQE generates a completion (`IB_SIGNAL_ALL_WR`).
    pub sq_sig_all: bool,
    /// Responder: longest time an ACK may be withheld to coalesce it with
    /// later ones, in ns (must be well below the peer's local ACK timeout).
    pub ack_delay_ns: u64,
    /// Requester: set AckReq at least every this many packets of a long
    /// message (besides the last packet of every message). 0 = only last.
    pub ack_req_interval: u32,
    /// End-to-end flow control (IBA 9.7.7.2), RC only: the responder
    /// advertises the receive WQEs its [`super::RecvQueue`] reports in the
    /// AETH credit field (an SRQ, which reports no count, advertises the
    /// "invalid" code 31), and the requester starts a SEND or RDMA WRITE
    /// with immediate only within the credits its peer advertised. Off
    /// (the default): ACKs carry code 31 and credits are ignored.
    pub flow_control: bool,
}

impl QpAttrs {
    /// Defaults for a fresh QP in the Reset state.
    pub const fn new(qp_type: QpType, qpn: u32) -> QpAttrs {
        QpAttrs {
            qp_type,
            qpn,
            state: QpState::Reset,
            dest_qpn: 0,
            path_mtu: Mtu::M1024,
            sq_psn: 0,
            rq_psn: 0,
            timeout: 14,
            retry_cnt: 7,
            rnr_retry: 7,
            min_rnr_timer: 1,
            max_rd_atomic: 1,
            max_dest_rd_atomic: 1,
            access: AccessFlags(0),
            qkey: 0,
            pkey: 0xffff,
            sq_sig_all: false,
            ack_delay_ns: 8_192,
            ack_req_interval: 16,
            flow_control: false,
        }
    }
}

/// A modify-QP request: every `Some` field is applied (`ib_qp_attr` plus the
/// attribute mask). ib_core's `ib_modify_qp_is_ok` has already checked which
/// attributes each transition requires; the engine checks the transition
/// itself (IBA 10.3.1) and value ranges.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash, Default)]
pub struct AttrUpdate {
    /// New state.
    pub state: Option<QpState>,
    /// Remote QPN.
    pub dest_qpn: Option<u32>,
    /// Path MTU.
    pub path_mtu: Option<Mtu>,
    /// Send PSN.
    pub sq_psn: Option<u32>,
    /// Receive PSN.
    pub rq_psn: Option<u32>,
    /// Local ACK timeout exponent.
    pub timeout: Option<u8>,
    /// Retry count.
    pub retry_cnt: Option<u8>,
    /// RNR retry count.
    pub rnr_retry: Option<u8>,
    /// Minimum RNR NAK timer code.
    pub min_rnr_timer: Option<u8>,
    /// Outstanding READ/atomic limit (requester).
    pub max_rd_atomic: Option<u8>,
    /// READ/atomic resources (responder).
    pub max_dest_rd_atomic: Option<u8>,
    /// Access flags.
    pub access: Option<AccessFlags>,
    /// Q_Key.
    pub qkey: Option<u32>,
    /// P_Key.
    pub pkey: Option<u16>,
    /// Responder ACK coalescing delay.
    pub ack_delay_ns: Option<u64>,
    /// Requester AckReq interval.
    pub ack_req_interval: Option<u32>,
    /// End-to-end flow control on or off ([`QpAttrs::flow_control`]).
    pub flow_control: Option<bool>,
}

/// Why a modify was refused (`-EINVAL`).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum ModifyError {
    /// The state transition is not in the IBA 10.3.1 diagram.
    InvalidTransition,
    /// A value is out of range (e.g. retry counts above 7, more READ/atomic
    /// resources than the QP was built with).
    InvalidValue,
}

/// True if IBA 10.3.1 (the QP state diagram) allows `from -> to`
/// through Modify QP.
pub const fn transition_allowed(from: QpState, to: QpState) -> bool {
    use QpState::*;
    matches!(
        (from, to),
        (_, Reset)
            | (_, Error)
            | (Reset, Init)
            | (Init, Init)
            | (Init, Rtr)
            | (Rtr, Rts)
            | (Rts, Rts)
            | (Rts, Sqd)
            | (Sqd, Sqd)
            | (Sqd, Rts)
            | (Sqe, Rts)
    )
}

/// The live state of a QP, for `ib_query_qp` (IBA 11.2.5.3 Query QP), read
/// with [`super::Qp::status`].
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub struct QpStatus {
    /// The current state (also after the engine moved the QP to Error).
    pub state: QpState,
    /// The PSN the next new request packet will carry (`sq_psn`; a
    /// retransmission reuses earlier PSNs, IBA 9.7.5).
    pub send_psn: u32,
    /// The next PSN the responder expects (`rq_psn`, IBA 9.7.5).
    pub expected_psn: u32,
    /// READ/atomic requests sent and not completed (at most
    /// `max_rd_atomic`).
    pub rd_atomic_in_flight: u32,
    /// Received READ/atomic requests whose responses are not all sent yet
    /// (at most `max_dest_rd_atomic`).
    pub responses_owed: u32,
    /// Every send WQE that was started has completed: nothing is in flight
    /// (IBA 10.3.1 / 11.2.5.3: the SQ of an SQD QP is drained).
    pub sq_drained: bool,
}
