//! Known-answer tests against real RoCEv2 traffic from the Linux rdma_rxe
//! driver (tests/data, provenance in tests/data/PROVENANCE.md): every packet
//! of every capture is parsed, checked for consistency with its flow,
//! rebuilt byte for byte, and its ICRC recomputed (IBA annex A17.4, 7.8.1).
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::collections::HashMap;
use std::path::PathBuf;

use rvt_proto::aeth::{Syndrome, CREDITS_INVALID};
use rvt_proto::headers::WireError;
use rvt_proto::icrc::{self, Icrc};
use rvt_proto::opcode::{Opcode, Operation, Position, Transport};
use rvt_proto::packet::{self, Packet, PacketHeaders};
use rvt_proto::psn::Psn;

/// Path MTU of every RC/UC capture (`-m 1024`; rping uses rxe's 1024 too).
const PMTU: usize = 1024;

/// One RoCEv2 packet of a capture.
#[derive(Clone)]
struct RocePacket {
    /// Index in the capture, for messages.
    index: usize,
    /// Source and destination IP address bytes (4 or 16 each).
    src: Vec<u8>,
    dst: Vec<u8>,
    /// IP header followed by the UDP header, as captured.
    ip_and_udp: Vec<u8>,
    /// UDP payload: BTH through ICRC.
    udp_payload: Vec<u8>,
}

impl RocePacket {
    /// BTH through the last pad byte (without the ICRC).
    fn transport(&self) -> &[u8] {
        &self.udp_payload[..self.udp_payload.len() - icrc::ICRC_LEN]
    }

    fn icrc_bytes(&self) -> [u8; 4] {
        self.udp_payload[self.udp_payload.len() - 4..]
            .try_into()
            .unwrap()
    }

    fn parse(&self) -> Packet<'_> {
        packet::parse(self.transport())
            .unwrap_or_else(|e| panic!("packet {}: parse failed: {e:?}", self.index))
    }
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// The records of a classic pcap file (either byte order, µs or ns stamps).
fn pcap_records(bytes: &[u8]) -> (u32, Vec<&[u8]>) {
    assert!(bytes.len() >= 24, "pcap too short");
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let little = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        _ => panic!("not a pcap file: magic {magic:#x}"),
    };
    let u32_at = |off: usize| {
        let b: [u8; 4] = bytes[off..off + 4].try_into().unwrap();
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let link_type = u32_at(20);
    let mut records = Vec::new();
    let mut off = 24;
    while off < bytes.len() {
        let incl = u32_at(off + 8) as usize;
        let orig = u32_at(off + 12) as usize;
        assert_eq!(
            incl, orig,
            "record at {off} was truncated by the snap length"
        );
        records.push(&bytes[off + 16..off + 16 + incl]);
        off += 16 + incl;
    }
    assert_eq!(off, bytes.len());
    (link_type, records)
}

/// Ethernet (optionally 802.1Q tagged) / IPv4 or IPv6 / UDP to port 4791.
fn decode_frame(index: usize, frame: &[u8]) -> RocePacket {
    let mut ethertype = be16(&frame[12..14]);
    let mut off = 14;
    if ethertype == 0x8100 {
        ethertype = be16(&frame[16..18]);
        off = 18;
    }
    let ip = &frame[off..];
    let (ip_len, src, dst, next, l3_payload_len) = match ethertype {
        0x0800 => {
            assert_eq!(ip[0] >> 4, 4);
            let ihl = usize::from(ip[0] & 0xf) * 4;
            let total = usize::from(be16(&ip[2..4]));
            (
                ihl,
                ip[12..16].to_vec(),
                ip[16..20].to_vec(),
                ip[9],
                total - ihl,
            )
        }
        0x86dd => {
            assert_eq!(ip[0] >> 4, 6);
            let payload = usize::from(be16(&ip[4..6]));
            (40, ip[8..24].to_vec(), ip[24..40].to_vec(), ip[6], payload)
        }
        other => panic!("packet {index}: ethertype {other:#x}"),
    };
    assert_eq!(next, 17, "packet {index}: not UDP");
    let udp = &ip[ip_len..ip_len + 8];
    assert_eq!(be16(&udp[2..4]), icrc::ROCE_V2_UDP_PORT);
    let udp_len = usize::from(be16(&udp[4..6]));
    assert_eq!(udp_len, l3_payload_len, "packet {index}: UDP length");
    RocePacket {
        index,
        src,
        dst,
        ip_and_udp: ip[..ip_len + 8].to_vec(),
        udp_payload: ip[ip_len + 8..ip_len + udp_len].to_vec(),
    }
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn load(name: &str) -> Vec<RocePacket> {
    let bytes = std::fs::read(data_dir().join(name)).unwrap();
    let (link_type, records) = pcap_records(&bytes);
    assert_eq!(link_type, 1, "{name}: not Ethernet");
    records
        .iter()
        .enumerate()
        .map(|(i, r)| decode_frame(i, r))
        .collect()
}

const CAPTURES: [&str; 8] = [
    "rxe-rc-atomic-v4.pcap",
    "rxe-rc-read-v4.pcap",
    "rxe-rc-send-v4.pcap",
    "rxe-rc-send-v6.pcap",
    "rxe-rc-write-imm-v4.pcap",
    "rxe-rping-cm-v4.pcap",
    "rxe-uc-send-v4.pcap",
    "rxe-ud-send-v4.pcap",
];

/// Every capture file in tests/data is one of `CAPTURES` (so a new capture
/// cannot be forgotten by the loops below).
#[test]
fn every_capture_is_listed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, CAPTURES);
}

/// IBA annex A17.4 / 7.8.1: the ICRC rdma_rxe put on every packet equals the
/// one computed here, by the one-shot helper, the incremental API fed in
/// arbitrary pieces, and `check_roce`.
#[test]
fn icrc_matches_every_captured_packet() {
    let mut total = 0;
    for name in CAPTURES {
        for p in load(name) {
            let want = p.icrc_bytes();
            let got = icrc::roce_icrc(&p.ip_and_udp, p.transport()).unwrap();
            assert_eq!(got.to_le_bytes(), want, "{name} packet {}", p.index);

            let (ip, udp) = p.ip_and_udp.split_at(p.ip_and_udp.len() - 8);
            let mut inc = if ip.len() == 20 {
                Icrc::roce_v4(ip, udp).unwrap()
            } else {
                Icrc::roce_v6(ip, udp).unwrap()
            };
            let t = p.transport();
            inc.update_bth(&t[..12]).unwrap();
            // Feed the rest in uneven pieces: the CRC must not depend on them.
            let mut rest = &t[12..];
            let mut step = 1;
            while !rest.is_empty() {
                let n = step.min(rest.len());
                inc.update(&rest[..n]);
                rest = &rest[n..];
                step = step * 3 + 1;
            }
            assert_eq!(
                inc.finish_bytes(),
                want,
                "{name} packet {} (incremental)",
                p.index
            );

            assert_eq!(
                icrc::check_roce(&p.ip_and_udp, &p.udp_payload).unwrap(),
                p.transport()
            );
            total += 1;
        }
    }
    assert_eq!(total, 145, "packets in tests/data");
}

/// IBA annex A17.4: exactly the variant fields are excluded from the ICRC.
/// Flipping a bit of a masked field leaves the ICRC unchanged; flipping any
/// other header bit changes it (and `check_roce` reports `BadIcrc`).
#[test]
fn icrc_masks_exactly_the_variant_fields() {
    for name in ["rxe-rc-send-v4.pcap", "rxe-rc-send-v6.pcap"] {
        let p = &load(name)[0];
        let v4 = p.ip_and_udp.len() == 28;
        let ip_len = p.ip_and_udp.len() - 8;
        let base = icrc::roce_icrc(&p.ip_and_udp, p.transport()).unwrap();
        for byte in 0..p.ip_and_udp.len() {
            for bit in 0..8 {
                let mut hdr = p.ip_and_udp.clone();
                hdr[byte] ^= 1 << bit;
                let masked = if byte >= ip_len {
                    // UDP checksum.
                    byte - ip_len >= 6
                } else if v4 {
                    // TOS, TTL, header checksum.
                    matches!(byte, 1 | 8 | 10 | 11)
                } else {
                    // Traffic class, flow label, hop limit.
                    (byte == 0 && bit < 4) || matches!(byte, 1..=3 | 7)
                };
                match icrc::roce_icrc(&hdr, p.transport()) {
                    Ok(v) => assert_eq!(v == base, masked, "{name}: IP/UDP byte {byte} bit {bit}"),
                    // Flipping the IP version or IHL makes the header unusable.
                    Err(WireError::BadNetworkHeader) => assert!(byte == 0 && !masked),
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
        for byte in 0..p.transport().len() {
            let mut t = p.transport().to_vec();
            t[byte] ^= 0x01;
            let v = icrc::roce_icrc(&p.ip_and_udp, &t).unwrap();
            // BTH byte 4: FECN, BECN, Resv6a (IBA 7.8.1 "Resv8a").
            assert_eq!(v == base, byte == 4, "{name}: BTH-onward byte {byte}");
            if byte != 4 {
                let mut with_icrc = t.clone();
                with_icrc.extend_from_slice(&p.icrc_bytes());
                assert_eq!(
                    icrc::check_roce(&p.ip_and_udp, &with_icrc),
                    Err(WireError::BadIcrc)
                );
            }
        }
    }
}

/// Every captured packet parses, has the headers its opcode needs, and
/// rebuilds byte for byte from the parsed headers and payload (IBA 9.2, 9.3).
#[test]
fn every_captured_packet_parses_and_rebuilds() {
    for name in CAPTURES {
        for p in load(name) {
            let t = p.transport();
            let pkt = p.parse();
            let hdr = pkt.hdr();
            let op = hdr.bth.opcode;
            assert_eq!(hdr.bth.tver, 0);
            assert_eq!(hdr.bth.pkey, 0xffff, "{name}: default P_Key");
            assert!(!hdr.bth.fecn && !hdr.bth.becn && !hdr.bth.mig_req);
            assert_eq!(hdr.len(), op.header_len());
            assert_eq!(
                hdr.len() + pkt.payload().len() + usize::from(hdr.bth.pad_count),
                t.len()
            );
            hdr.check_headers().unwrap();

            // Headers alone.
            let mut buf = [0u8; 128];
            let n = hdr.write(&mut buf).unwrap();
            assert_eq!(&buf[..n], &t[..n], "{name} packet {} headers", p.index);

            // Whole packet (headers, payload, zero pad).
            let mut out = vec![0xa5u8; t.len() + 8];
            let n = packet::write_packet(hdr, pkt.payload(), &mut out).unwrap();
            assert_eq!(&out[..n], t, "{name} packet {} rebuilt", p.index);

            // Reparse of the rebuilt bytes gives the same packet.
            assert_eq!(packet::parse(&out[..n]).unwrap(), pkt);

            // Any truncation of the headers is an error, never a panic.
            for cut in 0..hdr.len() {
                assert_eq!(
                    packet::parse(&t[..cut]),
                    Err(WireError::Truncated),
                    "cut {cut}"
                );
            }
        }
    }
}

/// Packets grouped by direction (source IP, destination IP, destination QP).
type FlowKey = (Vec<u8>, Vec<u8>, u32);

fn flows(packets: &[RocePacket]) -> HashMap<FlowKey, Vec<(usize, PacketHeaders, Vec<u8>)>> {
    let mut map: HashMap<FlowKey, Vec<_>> = HashMap::new();
    for p in packets {
        let pkt = p.parse();
        map.entry((p.src.clone(), p.dst.clone(), pkt.hdr().bth.dest_qp))
            .or_default()
            .push((p.index, *pkt.hdr(), pkt.payload().to_vec()));
    }
    map
}

/// A reassembled message of one flow.
#[derive(Debug)]
struct Message {
    opcodes: Vec<Opcode>,
    first_psn: Psn,
    len: usize,
    reth: Option<rvt_proto::headers::Reth>,
    imm: Option<u32>,
}

/// Checks the request stream of one flow (IBA 9.4, 9.7.1): consecutive PSNs
/// (an RDMA READ request consumes one PSN per response packet), First /
/// Middle* / Last sequences of one operation, First and Middle payloads of
/// exactly the path MTU, Last/Only at most the MTU, AckReq on every message's
/// last packet for RC. Returns the messages.
fn check_requests(name: &str, pkts: &[(usize, PacketHeaders, Vec<u8>)]) -> Vec<Message> {
    let mut messages = Vec::new();
    let mut current: Option<Message> = None;
    let mut expected_psn: Option<Psn> = None;
    for (index, hdr, payload) in pkts.iter().filter(|(_, h, _)| h.bth.opcode.is_request()) {
        let op = hdr.bth.opcode;
        let psn = hdr.bth.psn;
        if op.transport() != Transport::Ud {
            if let Some(e) = expected_psn {
                assert_eq!(psn, e, "{name} packet {index}: PSN");
            }
        }
        let consumed = if op == Opcode::RcReadRequest {
            let len = hdr.reth.unwrap().dma_len as usize;
            len.div_ceil(PMTU).max(1) as u32
        } else {
            1
        };
        expected_psn = Some(psn.add(consumed));
        match op.position() {
            Position::First | Position::Middle => {
                assert_eq!(payload.len(), PMTU, "{name} packet {index}")
            }
            Position::Last | Position::Only => {
                assert!(payload.len() <= PMTU, "{name} packet {index}")
            }
        }
        if op.transport() == Transport::Rc && op.position().ends_message() {
            assert!(
                hdr.bth.ack_req,
                "{name} packet {index}: AckReq on the last packet"
            );
        }
        if op.position().starts_message() {
            assert!(
                current.is_none(),
                "{name} packet {index}: message not finished"
            );
            current = Some(Message {
                opcodes: Vec::new(),
                first_psn: psn,
                len: 0,
                reth: hdr.reth,
                imm: None,
            });
        }
        let m = current
            .as_mut()
            .unwrap_or_else(|| panic!("{name} packet {index}: no First before {op:?}"));
        if let Some(first) = m.opcodes.first() {
            assert_eq!(first.operation(), op.operation(), "{name} packet {index}");
        }
        m.opcodes.push(op);
        m.len += payload.len();
        m.imm = hdr.immdt.map(|i| i.imm).or(m.imm);
        if op.position().ends_message() {
            messages.push(current.take().unwrap());
        }
    }
    assert!(current.is_none(), "{name}: capture ends inside a message");
    messages
}

/// Checks the responses of one flow (IBA 9.7.5): every AETH syndrome an ACK
/// with "no credit count" (rdma_rxe does no end-to-end flow control), MSNs
/// counting completed messages, read responses First/Middle/Last with AETH on
/// First and Last only. Returns (PSN, opcode, MSN) of each AETH.
fn check_responses(
    name: &str,
    pkts: &[(usize, PacketHeaders, Vec<u8>)],
) -> Vec<(Psn, Opcode, u32)> {
    let mut acks = Vec::new();
    let mut last_msn: Option<u32> = None;
    for (index, hdr, _) in pkts.iter().filter(|(_, h, _)| !h.bth.opcode.is_request()) {
        let op = hdr.bth.opcode;
        assert_eq!(op.has_aeth(), hdr.aeth.is_some());
        if let Some(aeth) = hdr.aeth {
            let syndrome = Syndrome::decode(aeth.syndrome).unwrap();
            assert_eq!(
                syndrome,
                Syndrome::Ack {
                    credit_code: CREDITS_INVALID
                },
                "{name} packet {index}"
            );
            assert_eq!(syndrome.encode(), aeth.syndrome);
            if let Some(prev) = last_msn {
                let d = Psn::new(prev).distance_to(Psn::new(aeth.msn));
                // The MSN of a READ response's First packet repeats the last
                // one; every completed message adds one.
                assert!(
                    (0..=1).contains(&d),
                    "{name} packet {index}: MSN {prev} -> {}",
                    aeth.msn
                );
            }
            last_msn = Some(aeth.msn);
            acks.push((hdr.bth.psn, op, aeth.msn));
        }
    }
    acks
}

#[test]
fn rc_send_flow() {
    for (name, message_len) in [("rxe-rc-send-v4.pcap", 3000), ("rxe-rc-send-v6.pcap", 1500)] {
        let packets = load(name);
        let flows = flows(&packets);
        assert_eq!(flows.len(), 2, "{name}: one QP each way");
        for pkts in flows.values() {
            let messages = check_requests(name, pkts);
            assert_eq!(messages.len(), 3, "{name}: -n 3");
            for m in &messages {
                assert_eq!(m.len, message_len);
                assert!(m.opcodes.iter().all(|o| o.operation() == Operation::Send));
                assert_eq!(m.opcodes[0], Opcode::RcSendFirst);
                assert_eq!(*m.opcodes.last().unwrap(), Opcode::RcSendLast);
            }
        }
        // ACKs travel the other way: PSN of each message's last packet, MSN + 1.
        for (key, pkts) in &flows {
            let acks = check_responses(name, pkts);
            let reverse = flows
                .iter()
                .find(|(k, _)| k.0 == key.1 && k.1 == key.0)
                .map(|(_, v)| v)
                .unwrap();
            let messages = check_requests(name, reverse);
            assert_eq!(acks.len(), messages.len());
            for (i, ((psn, op, msn), m)) in acks.iter().zip(&messages).enumerate() {
                assert_eq!(*op, Opcode::RcAcknowledge);
                let last_psn = m.first_psn.add(m.opcodes.len() as u32 - 1);
                assert_eq!(*psn, last_psn);
                assert_eq!(*msn, i as u32 + 1);
            }
        }
    }
}

#[test]
fn uc_send_flow() {
    let name = "rxe-uc-send-v4.pcap";
    let packets = load(name);
    for pkts in flows(&packets).values() {
        let messages = check_requests(name, pkts);
        assert_eq!(messages.len(), 3);
        for m in &messages {
            assert_eq!(m.len, 2100);
            assert_eq!(
                m.opcodes,
                [
                    Opcode::UcSendFirst,
                    Opcode::UcSendMiddle,
                    Opcode::UcSendLast
                ]
            );
        }
        // UC is unacknowledged (IBA 9.8.2).
        assert!(pkts.iter().all(|(_, h, _)| h.bth.opcode.is_request()));
    }
}

#[test]
fn ud_send_flow() {
    let name = "rxe-ud-send-v4.pcap";
    let packets = load(name);
    let flows = flows(&packets);
    assert_eq!(flows.len(), 2);
    for pkts in flows.values() {
        for (index, hdr, payload) in pkts {
            assert_eq!(hdr.bth.opcode, Opcode::UdSendOnly);
            let deth = hdr.deth.unwrap();
            // ibv_ud_pingpong's Q_Key; the source QP is the peer's UD QP.
            assert_eq!(deth.qkey, 0x1111_1111, "packet {index}");
            assert_eq!(deth.src_qp, 19);
            assert_eq!(payload.len(), 512);
        }
        // UD PSNs still increase by one per packet (IBA 9.8.3).
        for w in pkts.windows(2) {
            assert_eq!(w[0].1.bth.psn.distance_to(w[1].1.bth.psn), 1);
        }
    }
}

#[test]
fn rc_write_with_immediate_flow() {
    let name = "rxe-rc-write-imm-v4.pcap";
    let packets = load(name);
    let flows = flows(&packets);
    let mut writes = 0;
    for pkts in flows.values() {
        for m in check_requests(name, pkts) {
            assert_eq!(
                m.opcodes,
                [
                    Opcode::RcWriteFirst,
                    Opcode::RcWriteMiddle,
                    Opcode::RcWriteLastWithImm
                ]
            );
            // The RETH of the First packet carries the whole length (9.4.2).
            assert_eq!(m.reth.unwrap().dma_len, 2500);
            assert_eq!(m.len, 2500);
            assert!(m.imm.is_some());
            writes += 1;
        }
        check_responses(name, pkts);
    }
    assert_eq!(writes, 5);
}

#[test]
fn rc_read_flow() {
    let name = "rxe-rc-read-v4.pcap";
    let packets = load(name);
    let flows = flows(&packets);
    let (requests, responses): (Vec<_>, Vec<_>) = flows
        .values()
        .partition(|v| v.iter().all(|(_, h, _)| h.bth.opcode.is_request()));
    assert_eq!((requests.len(), responses.len()), (1, 1));
    let reads = check_requests(name, requests[0]);
    assert_eq!(reads.len(), 5);
    check_responses(name, responses[0]);
    // Responses: one per PMTU of the request, PSNs from the request's PSN
    // (IBA 9.7.5.1.5), AETH on First and Last only, payload = dma_len.
    let mut resp = responses[0].iter();
    for read in &reads {
        let len = read.reth.unwrap().dma_len as usize;
        let n = len.div_ceil(PMTU);
        let mut got = 0;
        for i in 0..n {
            let (index, hdr, payload) = resp.next().unwrap();
            let position = match (i, n) {
                (_, 1) => Position::Only,
                (0, _) => Position::First,
                (i, n) if i == n - 1 => Position::Last,
                _ => Position::Middle,
            };
            assert_eq!(
                hdr.bth.opcode,
                Opcode::read_response(position),
                "packet {index}"
            );
            assert_eq!(hdr.bth.psn, read.first_psn.add(i as u32));
            got += payload.len();
        }
        assert_eq!(got, len);
    }
    assert!(resp.next().is_none());
}

#[test]
fn rc_atomic_flow() {
    let name = "rxe-rc-atomic-v4.pcap";
    let packets = load(name);
    let flows = flows(&packets);
    let mut requests = Vec::new();
    let mut acks = Vec::new();
    for (index, hdr, payload) in flows.values().flatten() {
        assert!(
            payload.is_empty(),
            "packet {index}: atomics carry no payload"
        );
        match hdr.bth.opcode {
            Opcode::RcFetchAdd => {
                let a = hdr.atomic_eth.unwrap();
                assert_eq!(a.swap_add, 1, "ib_atomic_bw adds 1");
                assert_eq!(a.va % 8, 0, "8-byte aligned (IBA 9.4.4)");
                requests.push(hdr.bth.psn);
            }
            Opcode::RcAtomicAcknowledge => {
                assert!(hdr.atomic_ack_eth.is_some());
                acks.push((hdr.bth.psn, hdr.aeth.unwrap().msn));
            }
            other => panic!("{other:?}"),
        }
    }
    requests.sort_by_key(|p| p.value());
    acks.sort_by_key(|(p, _)| p.value());
    assert_eq!(requests.len(), 5);
    // One ATOMIC ACKNOWLEDGE per request, same PSN, MSN counting up.
    for (i, (req, (ack, msn))) in requests.iter().zip(&acks).enumerate() {
        assert_eq!(req, ack);
        assert_eq!(*msn, i as u32 + 1);
    }
}

/// rdma_cm's connection MADs travel as UD SEND Only on QP1 with the GSI
/// Q_Key 0x80010000 and source QP 1 (IBA 13.4.6.1, 9.6.1.1.1); the MAD is
/// 256 bytes with base version 1 and management class 7 (communication
/// management, IBA 16.7 / 12.6). The RC traffic after it is consistent.
#[test]
fn rping_cm_mads_and_rc_flow() {
    let name = "rxe-rping-cm-v4.pcap";
    let packets = load(name);
    let flows = flows(&packets);
    let mut mads = 0;
    for ((_, _, qp), pkts) in &flows {
        if *qp == 1 {
            for (index, hdr, payload) in pkts {
                assert_eq!(hdr.bth.opcode, Opcode::UdSendOnly, "packet {index}");
                let deth = hdr.deth.unwrap();
                assert_eq!(deth.qkey, 0x8001_0000);
                assert_eq!(deth.src_qp, 1);
                assert_eq!(payload.len(), 256);
                assert_eq!((payload[0], payload[1], payload[2]), (1, 7, 2));
                mads += 1;
            }
        } else {
            check_requests(name, pkts);
            check_responses(name, pkts);
        }
    }
    assert_eq!(mads, 5);
    let ops: Vec<Opcode> = packets.iter().map(|p| p.parse().hdr().bth.opcode).collect();
    for op in [
        Opcode::RcSendOnly,
        Opcode::RcReadRequest,
        Opcode::RcReadResponseOnly,
        Opcode::RcWriteOnly,
        Opcode::RcAcknowledge,
    ] {
        assert!(ops.contains(&op), "{op:?}");
    }
}
