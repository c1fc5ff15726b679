//! The performance management agent (rvt_proto::pma): what perfquery asks
//! and resets, built here from IBA 16.1.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use rvt_proto::pma::*;
use rvt_proto::sma::{
    MAD_LEN, METHOD_GET, METHOD_GET_RESP, METHOD_SET, STATUS_INVALID_FIELD,
    STATUS_UNSUPPORTED_METHOD_ATTR,
};

fn mad(method: u8, attr: u16, port_select: u8, select: u16) -> [u8; MAD_LEN] {
    let mut m = [0u8; MAD_LEN];
    m[0] = 1;
    m[1] = CLASS_PERF_MGMT;
    m[2] = 1;
    m[3] = method;
    m[8..16].copy_from_slice(&7u64.to_be_bytes());
    m[16..18].copy_from_slice(&attr.to_be_bytes());
    m[65] = port_select;
    m[66..68].copy_from_slice(&select.to_be_bytes());
    m
}

fn traffic() -> Traffic {
    Traffic {
        xmit_bytes: 4000,
        rcv_bytes: 8000,
        xmit_packets: 10,
        rcv_packets: 20,
        multicast_xmit_packets: 1,
        multicast_rcv_packets: 2,
        rcv_errors: 3,
        xmit_discards: 4,
        vl15_dropped: 5,
    }
}

fn run(req: &[u8; MAD_LEN], now: &Traffic, st: &mut PmaState) -> [u8; MAD_LEN] {
    let mut resp = [0u8; MAD_LEN];
    assert!(process_pma(req, now, st, &mut resp));
    assert_eq!(resp[3], METHOD_GET_RESP);
    resp
}

fn status(r: &[u8; MAD_LEN]) -> u16 {
    u16::from_be_bytes([r[4], r[5]])
}

fn be32(r: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(r[at..at + 4].try_into().unwrap())
}

fn be64(r: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(r[at..at + 8].try_into().unwrap())
}

#[test]
fn class_port_info_advertises_the_extended_counters() {
    let r = run(
        &mad(METHOD_GET, ATTR_CLASS_PORT_INFO, 0, 0),
        &traffic(),
        &mut PmaState::default(),
    );
    assert_eq!(status(&r), 0);
    assert_eq!(&r[64..66], &[1, 1]);
    assert_eq!(
        u16::from_be_bytes([r[66], r[67]]),
        PMA_CAP_EXTENDED_COUNTERS
    );
}

#[test]
fn port_counters_count_words_and_saturate() {
    let mut st = PmaState::default();
    let r = run(
        &mad(METHOD_GET, ATTR_PORT_COUNTERS, 1, 0),
        &traffic(),
        &mut st,
    );
    assert_eq!(status(&r), 0);
    let d = &r[64..];
    assert_eq!(d[1], 1, "PortSelect");
    assert_eq!(u16::from_be_bytes([d[8], d[9]]), 3, "PortRcvErrors");
    assert_eq!(u16::from_be_bytes([d[14], d[15]]), 4, "PortXmitDiscards");
    assert_eq!(u16::from_be_bytes([d[22], d[23]]), 5, "VL15Dropped");
    assert_eq!(
        (be32(d, 24), be32(d, 28)),
        (1000, 2000),
        "data in 4-byte words"
    );
    assert_eq!((be32(d, 32), be32(d, 36)), (10, 20), "packets");
    let mut big = traffic();
    big.xmit_bytes = 1 << 40;
    big.rcv_errors = 1 << 20;
    let r = run(&mad(METHOD_GET, ATTR_PORT_COUNTERS, 1, 0), &big, &mut st);
    assert_eq!(be32(&r[64..], 24), u32::MAX);
    assert_eq!(&r[64 + 8..64 + 10], &[0xff, 0xff]);
}

#[test]
fn extended_counters_are_64_bits_with_unicast_and_multicast() {
    let mut big = traffic();
    big.xmit_bytes = 1 << 40;
    let r = run(
        &mad(METHOD_GET, ATTR_PORT_COUNTERS_EXT, 1, 0),
        &big,
        &mut PmaState::default(),
    );
    let d = &r[64..];
    assert_eq!((be64(d, 8), be64(d, 16)), (1 << 38, 2000));
    assert_eq!((be64(d, 24), be64(d, 32)), (10, 20));
    assert_eq!((be64(d, 40), be64(d, 48)), (9, 18), "unicast");
    assert_eq!((be64(d, 56), be64(d, 64)), (1, 2), "multicast");
}

#[test]
fn a_set_resets_the_selected_counters_only() {
    let mut st = PmaState::default();
    // perfquery -r: every counter (CounterSelect all ones).
    run(
        &mad(METHOD_SET, ATTR_PORT_COUNTERS, 1, 0xffff),
        &traffic(),
        &mut st,
    );
    let mut later = traffic();
    later.xmit_packets += 5;
    later.rcv_errors += 1;
    let r = run(&mad(METHOD_GET, ATTR_PORT_COUNTERS, 1, 0), &later, &mut st);
    assert_eq!(be32(&r[64..], 32), 5);
    assert_eq!(&r[64 + 8..64 + 10], &[0, 1]);
    // The extended counters have their own reset.
    let r = run(
        &mad(METHOD_GET, ATTR_PORT_COUNTERS_EXT, 1, 0),
        &later,
        &mut st,
    );
    assert_eq!(be64(&r[64..], 24), 15);
    // Only PortXmitPkts.
    let mut st = PmaState::default();
    let r = run(
        &mad(METHOD_SET, ATTR_PORT_COUNTERS, 1, 1 << 14),
        &traffic(),
        &mut st,
    );
    assert_eq!((be32(&r[64..], 32), be32(&r[64..], 36)), (0, 20));
    let r = run(
        &mad(METHOD_SET, ATTR_PORT_COUNTERS_EXT, 1, 1 << 3),
        &traffic(),
        &mut st,
    );
    assert_eq!((be64(&r[64..], 24), be64(&r[64..], 32)), (10, 0));
}

#[test]
fn other_ports_attributes_and_classes() {
    let mut st = PmaState::default();
    let r = run(
        &mad(METHOD_GET, ATTR_PORT_COUNTERS, 2, 0),
        &traffic(),
        &mut st,
    );
    assert_eq!(status(&r), STATUS_INVALID_FIELD);
    let r = run(&mad(METHOD_GET, 0x0010, 1, 0), &traffic(), &mut st); // PortSamplesControl
    assert_eq!(status(&r), STATUS_UNSUPPORTED_METHOD_ATTR);
    let mut resp = [0u8; MAD_LEN];
    let mut sm = mad(METHOD_GET, ATTR_PORT_COUNTERS, 1, 0);
    sm[1] = 0x01;
    assert!(!process_pma(&sm, &traffic(), &mut st, &mut resp));
    let mut reply = mad(METHOD_GET_RESP, ATTR_PORT_COUNTERS, 1, 0);
    reply[1] = CLASS_PERF_MGMT;
    assert!(!process_pma(&reply, &traffic(), &mut st, &mut resp));
}
