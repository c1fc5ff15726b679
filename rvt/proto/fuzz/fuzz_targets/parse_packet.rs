//! Fuzz target: the packet parser, the header writer and the ICRC helpers on
//! arbitrary bytes. Besides "never panics", whatever parses must be
//! self-consistent and rebuild to a packet that parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvt_proto::icrc;
use rvt_proto::packet::{self, write_packet, PacketHeaders};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = packet::parse(data) {
        let op = p.hdr().bth.opcode;
        assert_eq!(p.hdr().bth.tver, 0);
        assert!(p.hdr().check_headers().is_ok());
        assert_eq!(
            op.header_len() + p.payload().len() + usize::from(p.hdr().bth.pad_count),
            data.len()
        );
        assert!(op.has_payload() || p.payload().is_empty());
        let mut out = vec![0u8; data.len()];
        let n = write_packet(p.hdr(), p.payload(), &mut out).expect("rebuild");
        assert_eq!(n, data.len());
        assert_eq!(packet::parse(&out), Ok(p));
        // Same bytes up to reserved bits (BTH bytes 4 and 8, DETH byte 4,
        // FETH bits 31:6) and pad contents.
        assert_eq!(&out[..4], &data[..4]);
        let payload_start = op.header_len();
        let payload_end = payload_start + p.payload().len();
        assert_eq!(&out[payload_start..payload_end], p.payload());
    }
    if let Ok((hdr, rest)) = PacketHeaders::parse(data) {
        assert_eq!(hdr.len() + rest.len(), data.len());
    }
    // ICRC helpers: the first bytes as network headers, the rest as packet.
    let split = usize::from(data.first().copied().unwrap_or(0) % 64).min(data.len());
    let (net, rest) = data.split_at(split);
    let _ = icrc::check_roce(net, rest);
    if net.len() >= 8 {
        let grh = net.get(8..48);
        let _ = icrc::ib_icrc(&net[..8], grh, rest);
    }
    let _ = icrc::vcrc(data);
});
