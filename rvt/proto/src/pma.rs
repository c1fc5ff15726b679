//! The performance management agent of a channel adapter port (IBA vol. 1,
//! chapter 16.1), as a pure function like [`super::sma`]: a request MAD of
//! the performance management class, the port's traffic totals and the
//! baseline of its last counter reset in, the response and the new
//! baseline out. `perfquery` reads ClassPortInfo, PortCounters and
//! PortCountersExtended; `perfquery -r` resets them (a Set with
//! CounterSelect).
//!
//! PortCounters' fields are narrow and saturate (IBA 16.1.3); the
//! extended ones are 64 bits. Data counters count 4-byte words.

use super::sma::{
    put, MAD_LEN, METHOD_GET, METHOD_GET_RESP, METHOD_SET, STATUS_BAD_VERSION,
    STATUS_INVALID_FIELD, STATUS_UNSUPPORTED_METHOD_ATTR,
};

/// The performance management class (IBA 13.4.4).
pub const CLASS_PERF_MGMT: u8 = 0x04;
/// Where a PMA MAD's data starts (IBA 16.1.1: 40 reserved bytes after the
/// common header).
pub const PMA_DATA_OFFSET: usize = 64;

/// Attributes (IBA 16.1.2).
pub const ATTR_CLASS_PORT_INFO: u16 = 0x0001;
/// PortCounters.
pub const ATTR_PORT_COUNTERS: u16 = 0x0012;
/// PortCountersExtended.
pub const ATTR_PORT_COUNTERS_EXT: u16 = 0x001d;

/// ClassPortInfo CapabilityMask of the PMA: PortCountersExtended is
/// supported (IsExtendedWidthSupported, IBA 16.1.2), which perfquery
/// checks before asking for it.
pub const PMA_CAP_EXTENDED_COUNTERS: u16 = 1 << 9;

/// A port's traffic since it came up, as rvt counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Traffic {
    /// Bytes sent and received (LRH through ICRC, as the PMA counts).
    pub xmit_bytes: u64,
    /// Bytes received.
    pub rcv_bytes: u64,
    /// Packets sent and received.
    pub xmit_packets: u64,
    /// Packets received.
    pub rcv_packets: u64,
    /// Of them, to or from a multicast LID.
    pub multicast_xmit_packets: u64,
    /// Multicast packets received.
    pub multicast_rcv_packets: u64,
    /// Received packets dropped as malformed (PortRcvErrors).
    pub rcv_errors: u64,
    /// Packets that could not be sent (PortXmitDiscards).
    pub xmit_discards: u64,
    /// VL15 packets dropped (VL15Dropped).
    pub vl15_dropped: u64,
}

impl Traffic {
    fn since(&self, base: &Traffic) -> Traffic {
        Traffic {
            xmit_bytes: self.xmit_bytes.saturating_sub(base.xmit_bytes),
            rcv_bytes: self.rcv_bytes.saturating_sub(base.rcv_bytes),
            xmit_packets: self.xmit_packets.saturating_sub(base.xmit_packets),
            rcv_packets: self.rcv_packets.saturating_sub(base.rcv_packets),
            multicast_xmit_packets: self
                .multicast_xmit_packets
                .saturating_sub(base.multicast_xmit_packets),
            multicast_rcv_packets: self
                .multicast_rcv_packets
                .saturating_sub(base.multicast_rcv_packets),
            rcv_errors: self.rcv_errors.saturating_sub(base.rcv_errors),
            xmit_discards: self.xmit_discards.saturating_sub(base.xmit_discards),
            vl15_dropped: self.vl15_dropped.saturating_sub(base.vl15_dropped),
        }
    }
}

/// What a port's PMA keeps: the totals at the last reset of each counter
/// (a reset moves a counter's baseline to the current total).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PmaState {
    /// The baseline of PortCounters.
    pub base: Traffic,
    /// The baseline of PortCountersExtended (reset separately).
    pub base_ext: Traffic,
}

fn sat16(v: u64) -> [u8; 2] {
    u16::try_from(v).unwrap_or(u16::MAX).to_be_bytes()
}

fn sat32(v: u64) -> [u8; 4] {
    u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes()
}

/// A counter of [`Traffic`], by the field it is.
type Field = fn(&mut Traffic) -> &mut u64;

/// PortCounters' CounterSelect bits (IBA 16.1.3) a reset honours, and the
/// counter each names.
const PORT_COUNTERS_SELECT: [(u16, Field); 7] = [
    (1 << 4, |t| &mut t.rcv_errors),
    (1 << 7, |t| &mut t.xmit_discards),
    (1 << 11, |t| &mut t.vl15_dropped),
    (1 << 12, |t| &mut t.xmit_bytes),
    (1 << 13, |t| &mut t.rcv_bytes),
    (1 << 14, |t| &mut t.xmit_packets),
    (1 << 15, |t| &mut t.rcv_packets),
];

/// PortCountersExtended's CounterSelect bits (IBA 16.1.4).
const PORT_COUNTERS_EXT_SELECT: [(u16, Field); 6] = [
    (1 << 0, |t| &mut t.xmit_bytes),
    (1 << 1, |t| &mut t.rcv_bytes),
    (1 << 2, |t| &mut t.xmit_packets),
    (1 << 3, |t| &mut t.rcv_packets),
    (1 << 6, |t| &mut t.multicast_xmit_packets),
    (1 << 7, |t| &mut t.multicast_rcv_packets),
];

/// Resets the counters `select` names: their baseline becomes the total
/// now.
fn reset(base: &mut Traffic, now: &Traffic, select: u16, fields: &[(u16, Field)]) {
    let mut now = *now;
    for (bit, field) in fields {
        if select & bit != 0 {
            *field(base) = *field(&mut now);
        }
    }
}

/// Answers the PMA request `req` for port 1 with the totals `now` and the
/// baselines in `state` (a Set resets the selected counters) into `resp`.
/// `false`: not a request for the PMA (nothing written; the caller passes
/// it on).
pub fn process_pma(
    req: &[u8; MAD_LEN],
    now: &Traffic,
    state: &mut PmaState,
    resp: &mut [u8; MAD_LEN],
) -> bool {
    let method = req[3];
    if req[1] != CLASS_PERF_MGMT || !matches!(method, METHOD_GET | METHOD_SET) {
        return false;
    }
    *resp = *req;
    resp[3] = METHOD_GET_RESP;
    let attr = u16::from_be_bytes([req[16], req[17]]);
    // PortSelect and CounterSelect, the first fields of both counter
    // attributes.
    let [_, port_select, s0, s1] = *req
        .get(PMA_DATA_OFFSET..)
        .and_then(|d| d.first_chunk::<4>())
        .unwrap_or(&[0; 4]);
    let select = u16::from_be_bytes([s0, s1]);
    let mut data = [0u8; MAD_LEN - PMA_DATA_OFFSET];
    let status = if req[0] != 1 || req[2] != 1 {
        STATUS_BAD_VERSION
    } else {
        match (method, attr) {
            (METHOD_GET, ATTR_CLASS_PORT_INFO) => {
                // BaseVersion, ClassVersion, CapabilityMask; the rest
                // (redirection, traps) unused.
                put(&mut data, 0, &[1, 1]);
                put(&mut data, 2, &PMA_CAP_EXTENDED_COUNTERS.to_be_bytes());
                0
            }
            (METHOD_GET | METHOD_SET, ATTR_PORT_COUNTERS | ATTR_PORT_COUNTERS_EXT)
                if port_select != 1 =>
            {
                STATUS_INVALID_FIELD
            }
            (METHOD_GET | METHOD_SET, ATTR_PORT_COUNTERS) => {
                if method == METHOD_SET {
                    reset(&mut state.base, now, select, &PORT_COUNTERS_SELECT);
                }
                let c = now.since(&state.base);
                put(&mut data, 1, &[1]);
                put(&mut data, 2, &select.to_be_bytes());
                put(&mut data, 8, &sat16(c.rcv_errors));
                put(&mut data, 14, &sat16(c.xmit_discards));
                put(&mut data, 22, &sat16(c.vl15_dropped));
                put(&mut data, 24, &sat32(c.xmit_bytes / 4));
                put(&mut data, 28, &sat32(c.rcv_bytes / 4));
                put(&mut data, 32, &sat32(c.xmit_packets));
                put(&mut data, 36, &sat32(c.rcv_packets));
                // (The 8-bit counters, link errors and overruns, stay 0:
                // a software link has none.)
                0
            }
            (METHOD_GET | METHOD_SET, ATTR_PORT_COUNTERS_EXT) => {
                if method == METHOD_SET {
                    reset(&mut state.base_ext, now, select, &PORT_COUNTERS_EXT_SELECT);
                }
                let c = now.since(&state.base_ext);
                put(&mut data, 1, &[1]);
                put(&mut data, 2, &select.to_be_bytes());
                put(&mut data, 8, &(c.xmit_bytes / 4).to_be_bytes());
                put(&mut data, 16, &(c.rcv_bytes / 4).to_be_bytes());
                put(&mut data, 24, &c.xmit_packets.to_be_bytes());
                put(&mut data, 32, &c.rcv_packets.to_be_bytes());
                let unicast_xmit = c.xmit_packets.saturating_sub(c.multicast_xmit_packets);
                let unicast_rcv = c.rcv_packets.saturating_sub(c.multicast_rcv_packets);
                put(&mut data, 40, &unicast_xmit.to_be_bytes());
                put(&mut data, 48, &unicast_rcv.to_be_bytes());
                put(&mut data, 56, &c.multicast_xmit_packets.to_be_bytes());
                put(&mut data, 64, &c.multicast_rcv_packets.to_be_bytes());
                0
            }
            _ => STATUS_UNSUPPORTED_METHOD_ATTR,
        }
    };
    put(resp, 4, &status.to_be_bytes());
    put(resp, PMA_DATA_OFFSET, &data);
    true
}
