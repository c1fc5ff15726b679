//! Fuzz target: the native IB framing and the management agents on
//! arbitrary bytes. Whatever parse_ib accepts rebuilds to a packet that
//! parses to the same fields; whatever write_ib builds parses back; the
//! SMA and the PMA answer or drop any 256 bytes without panicking, and a
//! refused PortInfo Set changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvt_proto::link::{self, LinkNext, Lrh};
use rvt_proto::pma::{self, PmaState, Traffic};
use rvt_proto::sma::{self, NodeAttrs, PortAttrs, SmaVerdict, MAD_LEN};

/// A configured port with an M_Key at protect level 1 and a lease.
fn port() -> PortAttrs {
    PortAttrs {
        mkey: 0x1234,
        mkey_protect: 1,
        mkey_lease_period: 3,
        lid: 4,
        sm_lid: 1,
        ..PortAttrs::initial(4, 1, 1 << 25)
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = link::parse_ib(data) {
        let mut out = vec![0u8; data.len() + 64];
        let n = link::write_ib(&p.lrh, p.grh.as_ref(), p.transport, &mut out).expect("rebuild");
        let q = link::parse_ib(&out[..n]).expect("the rebuilt packet parses");
        assert_eq!((q.grh, q.transport), (p.grh, p.transport));
        assert_eq!((q.lrh.vl, q.lrh.sl, q.lrh.dlid, q.lrh.slid), (p.lrh.vl, p.lrh.sl, p.lrh.dlid, p.lrh.slid));
    }
    if let Some((head, rest)) = data.split_first_chunk::<6>() {
        let lrh = Lrh {
            vl: head[0] & 0x0f,
            lver: 0,
            sl: head[0] >> 4,
            lnh: LinkNext::Local,
            dlid: u16::from_be_bytes([head[1], head[2]]),
            pkt_len: 0,
            slid: u16::from_be_bytes([head[3], head[4]]),
        };
        let transport = &rest[..rest.len() / 4 * 4];
        let grh = (head[5] & 1 == 1).then(|| link::Grh {
            ip_version: 6,
            traffic_class: head[5],
            flow_label: u32::from(head[1]) << 12,
            payload_len: 0,
            next_header: link::NEXT_HEADER_IBA,
            hop_limit: head[2],
            sgid: [head[3]; 16],
            dgid: [head[4]; 16],
        });
        let mut out = vec![0u8; link::ib_packet_len(transport.len(), grh.is_some())];
        if link::write_ib(&lrh, grh.as_ref(), transport, &mut out).is_ok() {
            let p = link::parse_ib(&out).expect("what write_ib builds parses");
            assert_eq!(p.transport, transport);
        }
    }
    if let Some(req) = data.first_chunk::<MAD_LEN>() {
        let node = NodeAttrs {
            node_guid: 1,
            system_image_guid: 2,
            port_guid: 3,
            device_id: 4,
            revision: 5,
            vendor_id: 6,
            description: [b'x'; 64],
        };
        let mut p = port();
        let before = p;
        let mut resp = [0u8; MAD_LEN];
        let now = u64::from(data.get(MAD_LEN).copied().unwrap_or(0)) << 30;
        let v = sma::process_smp(req, &node, &mut p, now, &mut resp);
        if let SmaVerdict::Reply(_) = v {
            let status = u16::from_be_bytes([resp[4], resp[5]]) & 0x7fff;
            if status == sma::STATUS_INVALID_FIELD && req[3] == sma::METHOD_SET {
                // Refused: nothing but the M_Key lease bookkeeping moved.
                assert_eq!(p.lid, before.lid);
                assert_eq!(p.state, before.state);
                assert_eq!(p.pkeys, before.pkeys);
            }
        }
        let mut st = PmaState::default();
        let _ = pma::process_pma(req, &Traffic::default(), &mut st, &mut resp);
    }
});
