//! The subnet management agent (rvt_proto::sma), one attribute at a time:
//! requests built here field by field from IBA 13.4 and 14.2.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use rvt_proto::sma::*;

fn node() -> NodeAttrs {
    let mut description = [0u8; 64];
    description[..12].copy_from_slice(b"rvt0 qib HCA");
    NodeAttrs {
        node_guid: 0x0002_c903_0000_1001,
        system_image_guid: 0x0002_c903_0000_1000,
        port_guid: 0x0002_c903_0000_1002,
        device_id: 0x7322,
        revision: 2,
        vendor_id: 0x00_1175,
        description,
    }
}

/// A port fresh from link training: IsClientReregistrationSupported,
/// MTUCap 2048, VL0 only.
fn port() -> PortAttrs {
    PortAttrs::initial(4, 1, 1 << 25)
}

/// An SMP: BaseVersion 1, `class`, ClassVersion 1, `method`, TID, `attr`,
/// `modifier`, `mkey` (IBA 13.4.2, 14.2.1).
fn smp(class: u8, method: u8, attr: u16, modifier: u32, mkey: u64) -> [u8; MAD_LEN] {
    let mut m = [0u8; MAD_LEN];
    m[0] = 1;
    m[1] = class;
    m[2] = 1;
    m[3] = method;
    m[8..16].copy_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
    m[16..18].copy_from_slice(&attr.to_be_bytes());
    m[20..24].copy_from_slice(&modifier.to_be_bytes());
    m[24..32].copy_from_slice(&mkey.to_be_bytes());
    m
}

fn get(attr: u16) -> [u8; MAD_LEN] {
    smp(CLASS_SUBN_LID_ROUTED, METHOD_GET, attr, 0, 0)
}

/// A Set(PortInfo) with M_Key `mkey` carrying `f`'s changes to the
/// PortInfo the port shows a Get with that M_Key, as an SM sends it.
fn set_port_info(p: &PortAttrs, mkey: u64, f: impl FnOnce(&mut [u8])) -> [u8; MAD_LEN] {
    let mut resp = [0u8; MAD_LEN];
    let mut copy = *p;
    assert!(matches!(
        process_smp(
            &smp(CLASS_SUBN_LID_ROUTED, METHOD_GET, ATTR_PORT_INFO, 0, mkey),
            &node(),
            &mut copy,
            0,
            &mut resp
        ),
        SmaVerdict::Reply(_)
    ));
    let mut req = smp(CLASS_SUBN_LID_ROUTED, METHOD_SET, ATTR_PORT_INFO, 1, mkey);
    req[64..128].copy_from_slice(&resp[64..128]);
    // Fields a Get reports but a Set leaves: PortState 0 (no change).
    req[64 + 32] &= 0xf0;
    req[64 + 33] &= 0x0f;
    f(&mut req[64..128]);
    req
}

fn run(req: &[u8; MAD_LEN], p: &mut PortAttrs, now: u64) -> (SmaVerdict, [u8; MAD_LEN]) {
    let mut resp = [0u8; MAD_LEN];
    let v = process_smp(req, &node(), p, now, &mut resp);
    (v, resp)
}

fn status(resp: &[u8; MAD_LEN]) -> u16 {
    u16::from_be_bytes([resp[4], resp[5]])
}

fn changes(v: SmaVerdict) -> PortChanges {
    match v {
        SmaVerdict::Reply(c) => c,
        other => panic!("no reply: {other:?}"),
    }
}

#[test]
fn node_info_describes_a_one_port_ca() {
    let mut p = port();
    let (v, r) = run(&get(ATTR_NODE_INFO), &mut p, 0);
    changes(v);
    assert_eq!((r[3], status(&r)), (METHOD_GET_RESP, 0));
    assert_eq!(
        &r[8..16],
        &0x1122_3344_5566_7788u64.to_be_bytes(),
        "the TID is kept"
    );
    let d = &r[64..];
    assert_eq!(&d[0..4], &[1, 1, NODE_TYPE_CA, 1]);
    assert_eq!(&d[4..12], &node().system_image_guid.to_be_bytes());
    assert_eq!(&d[12..20], &node().node_guid.to_be_bytes());
    assert_eq!(&d[20..28], &node().port_guid.to_be_bytes());
    assert_eq!(&d[28..30], &[0, 32]); // PartitionCap
    assert_eq!(&d[30..32], &[0x73, 0x22]); // DeviceID
    assert_eq!(&d[32..36], &[0, 0, 0, 2]); // Revision
    assert_eq!(&d[36..40], &[1, 0x00, 0x11, 0x75]); // LocalPortNum, VendorID
}

#[test]
fn node_description_is_the_64_bytes() {
    let mut p = port();
    let (_, r) = run(&get(ATTR_NODE_DESCRIPTION), &mut p, 0);
    assert_eq!(status(&r), 0);
    assert_eq!(&r[64..128], &node().description[..]);
}

#[test]
fn directed_route_responses_have_the_d_bit() {
    let mut p = port();
    let req = smp(CLASS_SUBN_DIRECTED_ROUTE, METHOD_GET, ATTR_NODE_INFO, 0, 0);
    let (_, r) = run(&req, &mut p, 0);
    assert_eq!(status(&r), STATUS_DIRECTION);
    assert_eq!(r[1], CLASS_SUBN_DIRECTED_ROUTE);
}

#[test]
fn port_info_get_reports_the_port() {
    let mut p = port();
    p.lid = 0x12;
    p.sm_lid = 0x1;
    p.lmc = 2;
    p.sm_sl = 3;
    let (_, r) = run(&get(ATTR_PORT_INFO), &mut p, 0);
    assert_eq!(status(&r), 0);
    let d = &r[64..128];
    assert_eq!(&d[8..16], &0xfe80_0000_0000_0000u64.to_be_bytes());
    assert_eq!(&d[16..20], &[0, 0x12, 0, 0x01]);
    assert_eq!(&d[20..24], &(1u32 << 25).to_be_bytes());
    assert_eq!(d[28], 1, "LocalPortNum");
    assert_eq!(d[32] & 0x0f, PortState::Init.value());
    assert_eq!(d[33] >> 4, 5, "PortPhysicalState LinkUp");
    assert_eq!(d[34] & 0x07, 2, "LMC");
    assert_eq!(
        (d[36] >> 4, d[36] & 0x0f),
        (4, 3),
        "NeighborMTU, MasterSMSL"
    );
    assert_eq!(d[41] & 0x0f, 4, "MTUCap");
    // A modifier naming a port the CA does not have.
    let (_, r) = run(
        &smp(CLASS_SUBN_LID_ROUTED, METHOD_GET, ATTR_PORT_INFO, 2, 0),
        &mut p,
        0,
    );
    assert_eq!(status(&r), STATUS_INVALID_FIELD);
}

#[test]
fn the_sm_assigns_lids_and_brings_the_port_to_active() {
    let mut p = port();
    let req = set_port_info(&p, 0, |d| {
        d[16..18].copy_from_slice(&0x0005u16.to_be_bytes());
        d[18..20].copy_from_slice(&0x0001u16.to_be_bytes());
        d[34] = 1; // LMC 1
        d[36] = (4 << 4) | 7; // NeighborMTU 2048, MasterSMSL 7
        d[51] = 18; // SubnetTimeOut
    });
    let (v, r) = run(&req, &mut p, 0);
    let c = changes(v);
    assert_eq!(status(&r), 0);
    assert!(c.lid && c.sm && !c.client_reregister && c.state.is_none());
    assert_eq!(
        (p.lid, p.lmc, p.sm_lid, p.sm_sl, p.subnet_timeout),
        (5, 1, 1, 7, 18)
    );
    assert_eq!(
        &r[64 + 16..64 + 18],
        &[0, 5],
        "the response shows the new values"
    );
    // Init -> Armed -> Active, as OpenSM does.
    for (want, value) in [(PortState::Armed, 3u8), (PortState::Active, 4)] {
        let req = set_port_info(&p, 0, |d| d[32] = (d[32] & 0xf0) | value);
        let (v, r) = run(&req, &mut p, 0);
        assert_eq!(status(&r), 0);
        assert_eq!(changes(v).state, Some(want));
        assert_eq!(p.state, want);
    }
    // Active again: no change, no event.
    let req = set_port_info(&p, 0, |d| d[32] = (d[32] & 0xf0) | 4);
    assert_eq!(changes(run(&req, &mut p, 0).0).state, None);
    // Down: the port goes down.
    let req = set_port_info(&p, 0, |d| d[32] = (d[32] & 0xf0) | 1);
    assert_eq!(changes(run(&req, &mut p, 0).0).state, Some(PortState::Down));
}

#[test]
fn invalid_port_info_sets_change_nothing() {
    type Edit = fn(&mut [u8]);
    let cases: [(&str, Edit); 9] = [
        ("LID 0", |d| d[16..18].copy_from_slice(&[0, 0])),
        ("multicast LID", |d| {
            d[16..18].copy_from_slice(&[0xc0, 0x01])
        }),
        ("permissive SM LID", |d| {
            d[18..20].copy_from_slice(&[0xff, 0xff])
        }),
        ("Active from Init", |d| d[32] = (d[32] & 0xf0) | 4),
        ("Init cannot be set", |d| d[32] = (d[32] & 0xf0) | 2),
        ("NeighborMTU above MTUCap", |d| {
            d[36] = (5 << 4) | (d[36] & 0x0f)
        }),
        ("PortPhysicalState LinkUp", |d| d[33] = 5 << 4),
        ("Disabled and Armed at once", |d| {
            d[33] = 3 << 4;
            d[32] = (d[32] & 0xf0) | 3;
        }),
        ("OperationalVLs above VLCap", |d| {
            d[43] = (2 << 4) | (d[43] & 0x0f)
        }),
    ];
    for (what, f) in cases {
        let mut p = port();
        p.lid = 3;
        p.sm_lid = 1;
        let before = p;
        let req = set_port_info(&p, 0, |d| {
            d[34] = 3; // and an LMC change, which must not happen either
            f(d);
        });
        let (v, r) = run(&req, &mut p, 0);
        assert_eq!(status(&r), STATUS_INVALID_FIELD, "{what}");
        assert_eq!(changes(v), PortChanges::default(), "{what}");
        assert_eq!(p, before, "{what}");
        assert_eq!(&r[64 + 16..64 + 18], &[0, 3], "{what}: the current values");
    }
}

#[test]
fn client_reregister_is_reported() {
    let mut p = port();
    p.lid = 3;
    p.sm_lid = 1;
    let req = set_port_info(&p, 0, |d| d[51] |= 0x80);
    let (v, r) = run(&req, &mut p, 0);
    let c = changes(v);
    assert!(c.client_reregister && !c.lid);
    assert_eq!(r[64 + 51] & 0x80, 0x80, "echoed in the response");
    // A Get does not show it: it is an event, not a state.
    let (_, r) = run(&get(ATTR_PORT_INFO), &mut p, 0);
    assert_eq!(r[64 + 51] & 0x80, 0);
}

#[test]
fn unsupported_methods_and_attributes() {
    let mut p = port();
    let (_, r) = run(
        &smp(CLASS_SUBN_LID_ROUTED, METHOD_SET, ATTR_NODE_INFO, 0, 0),
        &mut p,
        0,
    );
    assert_eq!(status(&r), STATUS_UNSUPPORTED_METHOD_ATTR);
    let (_, r) = run(&get(0x0012), &mut p, 0); // SwitchInfo: not a CA's
    assert_eq!(status(&r), STATUS_UNSUPPORTED_METHOD_ATTR);
    let mut bad = get(ATTR_NODE_INFO);
    bad[0] = 2;
    let (_, r) = run(&bad, &mut p, 0);
    assert_eq!(status(&r), STATUS_BAD_VERSION);
    // A TrapRepress is never answered (IBA 13.4.9).
    let (v, _) = run(
        &smp(CLASS_SUBN_LID_ROUTED, METHOD_TRAP_REPRESS, 0x0002, 0, 0),
        &mut p,
        0,
    );
    assert_eq!(
        v,
        SmaVerdict::Drop {
            mkey_violation: false
        }
    );
    for (class, method) in [
        (CLASS_SUBN_LID_ROUTED, METHOD_GET_RESP),
        (0x03, METHOD_GET),            // SubnAdm: the SA's, not the SMA's
        (CLASS_SUBN_LID_ROUTED, 0x05), // a Trap
    ] {
        let (v, _) = run(&smp(class, method, ATTR_NODE_INFO, 0, 0), &mut p, 0);
        assert_eq!(v, SmaVerdict::Pass, "class {class:#x} method {method:#x}");
    }
    // SMInfo is the SM's to answer (IBA 14.4.1), whatever the method.
    let (v, _) = run(&get(ATTR_SM_INFO), &mut p, 0);
    assert_eq!(v, SmaVerdict::Pass);
}

#[test]
fn operational_vls_and_error_thresholds_are_kept() {
    let mut p = port();
    p.vl_cap = 4;
    p.lid = 3;
    p.sm_lid = 1;
    // OpenSM sets OperationalVLs to what both ends can do, and the
    // thresholds to 0x88, then reads them back.
    let req = set_port_info(&p, 0, |d| {
        d[43] = (2 << 4) | (d[43] & 0x0f);
        d[53] = 0x88;
    });
    let (_, r) = run(&req, &mut p, 0);
    assert_eq!(status(&r), 0);
    assert_eq!((p.op_vls, p.error_thresholds), (2, 0x88));
    let (_, r) = run(&get(ATTR_PORT_INFO), &mut p, 0);
    assert_eq!((r[64 + 43] >> 4, r[64 + 53]), (2, 0x88));
}

#[test]
fn m_key_protection_and_its_lease() {
    const KEY: u64 = 0xfeed_f00d_1234_5678;
    let mut p = port();
    p.lid = 3;
    p.sm_lid = 1;
    // The SM sets an M_Key, protect level 1, a 10-second lease.
    let req = set_port_info(&p, 0, |d| {
        d[0..8].copy_from_slice(&KEY.to_be_bytes());
        d[26..28].copy_from_slice(&10u16.to_be_bytes());
        d[34] = 1 << 6;
    });
    changes(run(&req, &mut p, 0).0);
    assert_eq!((p.mkey, p.mkey_protect, p.mkey_lease_period), (KEY, 1, 10));
    // Level 1: a Get with the wrong key is answered, the M_Key hidden.
    let (v, r) = run(
        &smp(CLASS_SUBN_LID_ROUTED, METHOD_GET, ATTR_PORT_INFO, 0, 7),
        &mut p,
        0,
    );
    changes(v);
    assert_eq!(&r[64..72], &[0; 8]);
    let (_, r) = run(
        &smp(CLASS_SUBN_LID_ROUTED, METHOD_GET, ATTR_PORT_INFO, 0, KEY),
        &mut p,
        0,
    );
    assert_eq!(&r[64..72], &KEY.to_be_bytes());
    // A Set with the wrong key: dropped, counted, the lease starts.
    let wrong = set_port_info(&p, 7, |d| d[16..18].copy_from_slice(&[0, 9]));
    assert_eq!(
        run(&wrong, &mut p, 1_000).0,
        SmaVerdict::Drop {
            mkey_violation: true
        }
    );
    assert_eq!((p.lid, p.mkey_violations), (3, 1));
    assert_eq!(p.mkey_lease_deadline, Some(1_000 + 10_000_000_000));
    // The right key before the lease ends: accepted, the lease stops.
    let right = set_port_info(&p, KEY, |d| d[16..18].copy_from_slice(&[0, 9]));
    changes(run(&right, &mut p, 2_000).0);
    assert_eq!((p.lid, p.mkey_lease_deadline), (9, None));
    // Level 2: a Get with the wrong key is dropped too.
    p.mkey_protect = 2;
    let (v, _) = run(
        &smp(CLASS_SUBN_LID_ROUTED, METHOD_GET, ATTR_NODE_INFO, 0, 7),
        &mut p,
        3_000,
    );
    assert_eq!(
        v,
        SmaVerdict::Drop {
            mkey_violation: true
        }
    );
    assert_eq!(p.mkey_violations, 2);
    // Nobody with the key answers within the lease: protection lapses,
    // and the same Get is answered.
    let later = 3_000 + 10_000_000_000;
    let (v, r) = run(
        &smp(CLASS_SUBN_LID_ROUTED, METHOD_GET, ATTR_NODE_INFO, 0, 7),
        &mut p,
        later,
    );
    changes(v);
    assert_eq!(status(&r), 0);
    assert_eq!(p.mkey_protect, 0);
}

#[test]
fn any_request_bytes_are_answered_or_dropped_without_panicking() {
    let mut x = 0x2545_f491u32;
    for _ in 0..20_000 {
        let mut req = [0u8; MAD_LEN];
        for b in req.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        // Often a plausible header, so the attribute code runs.
        if x % 2 == 0 {
            req[0] = 1;
            req[1] = CLASS_SUBN_LID_ROUTED;
            req[2] = 1;
            req[3] = [METHOD_GET, METHOD_SET][(x >> 8) as usize % 2];
            req[16] = 0;
            req[17] = [0x10, 0x11, 0x15][(x >> 9) as usize % 3];
        }
        let mut p = port();
        let _ = run(&req, &mut p, u64::from(x));
    }
}

#[test]
fn guid_info_is_the_port_guid() {
    let mut p = port();
    let (_, r) = run(&get(ATTR_GUID_INFO), &mut p, 0);
    assert_eq!(status(&r), 0);
    assert_eq!(&r[64..72], &node().port_guid.to_be_bytes());
    assert_eq!(&r[72..128], &[0; 56][..]);
    let (_, r) = run(
        &smp(CLASS_SUBN_LID_ROUTED, METHOD_GET, ATTR_GUID_INFO, 1, 0),
        &mut p,
        0,
    );
    assert_eq!(status(&r), STATUS_INVALID_FIELD);
}

#[test]
fn the_sm_sets_the_p_key_table() {
    let mut p = port();
    let (_, r) = run(&get(ATTR_PKEY_TABLE), &mut p, 0);
    assert_eq!(
        (status(&r), &r[64..66], &r[66..68]),
        (0, &[0xff, 0xff][..], &[0, 0][..])
    );
    // OpenSM's partitions.conf: the default partition and 0x8001.
    let mut req = smp(CLASS_SUBN_LID_ROUTED, METHOD_SET, ATTR_PKEY_TABLE, 0, 0);
    req[64..66].copy_from_slice(&0xffffu16.to_be_bytes());
    req[66..68].copy_from_slice(&0x8001u16.to_be_bytes());
    let (v, r) = run(&req, &mut p, 0);
    assert!(changes(v).pkeys);
    assert_eq!(status(&r), 0);
    assert_eq!((p.pkeys[0], p.pkeys[1], p.pkeys[2]), (0xffff, 0x8001, 0));
    assert_eq!(&r[66..68], &[0x80, 0x01]);
    // Block 1 does not exist: refused, nothing changed.
    let mut req = smp(CLASS_SUBN_LID_ROUTED, METHOD_SET, ATTR_PKEY_TABLE, 1, 0);
    req[64..66].copy_from_slice(&0x1234u16.to_be_bytes());
    let (v, r) = run(&req, &mut p, 0);
    assert_eq!(status(&r), STATUS_INVALID_FIELD);
    assert!(!changes(v).pkeys);
    assert_eq!(p.pkeys[0], 0xffff);
}

#[test]
fn every_sl_maps_to_vl0() {
    let mut p = port();
    let (_, r) = run(&get(ATTR_SL_TO_VL_TABLE), &mut p, 0);
    assert_eq!((status(&r), &r[64..72]), (0, &[0; 8][..]));
    let req = smp(CLASS_SUBN_LID_ROUTED, METHOD_SET, ATTR_SL_TO_VL_TABLE, 0, 0);
    assert_eq!(status(&run(&req, &mut p, 0).1), 0);
    let mut req = req;
    req[64] = 0x01; // SL1 on VL1
    assert_eq!(status(&run(&req, &mut p, 0).1), STATUS_INVALID_FIELD);
}
