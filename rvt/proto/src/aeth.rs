//! AETH syndrome encoding, credit counts and timers (IBA vol. 1, 9.7.5.1 and
//! 9.7.5.2, Tables 42-45; the local ACK timeout of 9.7.6.1.3).
//!
//! Syndrome byte (IBA 9.7.5.1 Table 42): bit 7 reserved, bits 6:5 the type
//! (00 ACK, 01 RNR NAK, 10 reserved, 11 NAK), bits 4:0 the value: the credit
//! code of an ACK (Table 44), the timer code of an RNR NAK (Table 45) or the
//! NAK code of a NAK (Table 43).

use super::headers::WireError;

/// NAK codes (IBA 9.7.5.1 Table 43); values 5..=31 are reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NakCode {
    /// PSN sequence error (code 0): the responder saw a PSN gap.
    PsnSequenceError,
    /// Invalid request (code 1).
    InvalidRequest,
    /// Remote access error (code 2): R_Key or bounds check failed.
    RemoteAccessError,
    /// Remote operational error (code 3).
    RemoteOperationalError,
    /// Invalid RD request (code 4).
    InvalidRdRequest,
}

impl NakCode {
    /// The 5-bit wire value of the code.
    pub const fn code(self) -> u8 {
        match self {
            NakCode::PsnSequenceError => 0,
            NakCode::InvalidRequest => 1,
            NakCode::RemoteAccessError => 2,
            NakCode::RemoteOperationalError => 3,
            NakCode::InvalidRdRequest => 4,
        }
    }

    /// The NAK code with 5-bit wire value `code`, `None` if reserved.
    pub const fn from_code(code: u8) -> Option<NakCode> {
        Some(match code {
            0 => NakCode::PsnSequenceError,
            1 => NakCode::InvalidRequest,
            2 => NakCode::RemoteAccessError,
            3 => NakCode::RemoteOperationalError,
            4 => NakCode::InvalidRdRequest,
            _ => return None,
        })
    }
}

/// A decoded AETH syndrome (IBA 9.7.5.1 Table 42).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Syndrome {
    /// Positive acknowledgement with a 5-bit credit code (Table 44;
    /// [`CREDITS_INVALID`] = no credit count).
    Ack {
        /// Credit code, 0..=31.
        credit_code: u8,
    },
    /// Receiver not ready: retry after the time of the 5-bit timer code
    /// (Table 45, see [`rnr_timer_ns`]).
    RnrNak {
        /// RNR timer code, 0..=31.
        timer_code: u8,
    },
    /// Negative acknowledgement.
    Nak(NakCode),
}

/// Syndrome type bits 6:5 (Table 42).
const TYPE_MASK: u8 = 0x60;
/// Type 00: ACK.
const TYPE_ACK: u8 = 0x00;
/// Type 01: RNR NAK.
const TYPE_RNR_NAK: u8 = 0x20;
/// Type 11: NAK (type 10 is reserved).
const TYPE_NAK: u8 = 0x60;
/// Value bits 4:0.
const VALUE_MASK: u8 = 0x1f;

/// The ACK credit code meaning "no credit count" (IBA 9.7.5.1 Table 44: code
/// 11111b is "invalid"); a responder that does not do end-to-end flow control
/// sends it, and the requester then treats credits as unlimited.
pub const CREDITS_INVALID: u8 = 31;

impl Syndrome {
    /// An ACK with no credit count ([`CREDITS_INVALID`]).
    pub const ACK_NO_CREDITS: Syndrome = Syndrome::Ack {
        credit_code: CREDITS_INVALID,
    };

    /// Decodes a syndrome byte. The reserved bit 7 is ignored (IBA 9.2:
    /// reserved fields are ignored on receive); type 10 and NAK codes 5..=31
    /// are reserved and yield `BadSyndrome`.
    pub const fn decode(byte: u8) -> Result<Syndrome, WireError> {
        let value = byte & VALUE_MASK;
        match byte & TYPE_MASK {
            TYPE_ACK => Ok(Syndrome::Ack { credit_code: value }),
            TYPE_RNR_NAK => Ok(Syndrome::RnrNak { timer_code: value }),
            TYPE_NAK => match NakCode::from_code(value) {
                Some(code) => Ok(Syndrome::Nak(code)),
                None => Err(WireError::BadSyndrome(byte)),
            },
            _ => Err(WireError::BadSyndrome(byte)),
        }
    }

    /// Encodes the syndrome byte; codes wider than 5 bits are masked.
    pub const fn encode(self) -> u8 {
        match self {
            Syndrome::Ack { credit_code } => TYPE_ACK | (credit_code & VALUE_MASK),
            Syndrome::RnrNak { timer_code } => TYPE_RNR_NAK | (timer_code & VALUE_MASK),
            Syndrome::Nak(code) => TYPE_NAK | code.code(),
        }
    }

    /// True for an ACK (a positive acknowledgement).
    pub const fn is_ack(self) -> bool {
        matches!(self, Syndrome::Ack { .. })
    }
}

/// Credits (receive WQEs) each ACK credit code stands for (IBA 9.7.5.1
/// Table 44), codes 0..=30; code 31 is [`CREDITS_INVALID`].
const CREDIT_COUNTS: [u32; 31] = [
    0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536,
    2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768,
];

/// Number of credits an ACK credit code stands for (IBA 9.7.5.1 Table 44);
/// `None` for [`CREDITS_INVALID`] (no credit count) and codes above 31.
pub fn credit_count(code: u8) -> Option<u32> {
    CREDIT_COUNTS.get(usize::from(code)).copied()
}

/// The credit code a responder with `credits` free receive WQEs advertises:
/// the largest code whose count does not exceed `credits` (IBA 9.7.7.2: a
/// responder never promises more than it has).
pub fn credit_code_for(credits: u32) -> u8 {
    // The table is increasing: the last entry not above `credits` wins.
    CREDIT_COUNTS
        .iter()
        .rposition(|&count| count <= credits)
        .and_then(|code| u8::try_from(code).ok())
        .unwrap_or(0)
}

/// Minimum RNR NAK timer, in nanoseconds, for each timer code (IBA 9.7.5.2.8
/// Table 45): code 0 is 655.36 ms, codes 1..=31 run from 0.01 ms to 491.52 ms.
const RNR_TIMER_NS: [u64; 32] = [
    655_360_000, // 0
    10_000,      // 1: 0.01 ms
    20_000,      // 2
    30_000,      // 3
    40_000,      // 4
    60_000,      // 5
    80_000,      // 6
    120_000,     // 7
    160_000,     // 8
    240_000,     // 9
    320_000,     // 10
    480_000,     // 11
    640_000,     // 12
    960_000,     // 13
    1_280_000,   // 14
    1_920_000,   // 15
    2_560_000,   // 16
    3_840_000,   // 17
    5_120_000,   // 18
    7_680_000,   // 19
    10_240_000,  // 20
    15_360_000,  // 21
    20_480_000,  // 22
    30_720_000,  // 23
    40_960_000,  // 24
    61_440_000,  // 25
    81_920_000,  // 26
    122_880_000, // 27
    163_840_000, // 28
    245_760_000, // 29
    327_680_000, // 30
    491_520_000, // 31
];

/// The RNR NAK timer of a 5-bit timer code in nanoseconds (IBA 9.7.5.2.8
/// Table 45). Only the low 5 bits of `timer_code` are used.
pub fn rnr_timer_ns(timer_code: u8) -> u64 {
    RNR_TIMER_NS
        .get(usize::from(timer_code & VALUE_MASK))
        .copied()
        .unwrap_or(RNR_TIMER_NS[0])
}

/// Base of the local ACK timeout in nanoseconds: 4.096 µs (IBA 9.7.6.1.3).
pub const LOCAL_ACK_TIMEOUT_BASE_NS: u64 = 4_096;

/// The local ACK timeout of the 5-bit QP attribute `timeout` in nanoseconds,
/// 4.096 µs × 2^timeout (IBA 9.7.6.1.3); `None` for 0, which disables the
/// timer (infinite). Values beyond 31 saturate at `u64::MAX` instead of
/// overflowing.
pub const fn local_ack_timeout_ns(timeout: u8) -> Option<u64> {
    if timeout == 0 {
        return None;
    }
    // 4096 = 2^12, so 4096 << t fits in u64 for t <= 51.
    if timeout > 51 {
        return Some(u64::MAX);
    }
    Some(LOCAL_ACK_TIMEOUT_BASE_NS << timeout)
}
