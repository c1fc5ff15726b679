# SPDX-License-Identifier: GPL-2.0
"""RoCEv2 packets for the wire scenarios: reading them from pcap captures,
and building them (IPv4 and UDP headers for a raw socket, the BTH and its
extension headers, the ICRC of IBA annex A17.4)."""

import ipaddress
import socket
import struct
import sys
import zlib

ROCE_PORT = 4791
IPV4_LEN = 20
UDP_LEN = 8
BTH_LEN = 12

# Extension headers by the low 5 bits of an RC/UC opcode (IBA 9.2, table
# 38), and their lengths.
RETH, AETH, ATOMIC_ETH, ATOMIC_ACK_ETH, IMM, IETH, DETH, FETH = (
    "reth", "aeth", "atomic_eth", "atomic_ack_eth", "imm", "ieth", "deth", "feth")
HEADER_LEN = {RETH: 16, AETH: 4, ATOMIC_ETH: 28, ATOMIC_ACK_ETH: 8, IMM: 4, IETH: 4,
              DETH: 8, FETH: 4}
RC_HEADERS = {
    0x03: [IMM], 0x05: [IMM], 0x06: [RETH], 0x09: [IMM], 0x0a: [RETH],
    0x0b: [RETH, IMM], 0x0c: [RETH], 0x0d: [AETH], 0x0f: [AETH], 0x10: [AETH],
    0x11: [AETH], 0x12: [AETH, ATOMIC_ACK_ETH], 0x13: [ATOMIC_ETH], 0x14: [ATOMIC_ETH],
    0x16: [IETH], 0x17: [IETH], 0x1c: [FETH, RETH], 0x1d: [RETH],
}


def headers_of(opcode):
    """The extension headers the IBA puts after the BTH of opcode (for the
    transports rvt serves; others get none)."""
    transport, op = opcode & 0xe0, opcode & 0x1f
    if transport == 0x00:
        return RC_HEADERS.get(op, [])
    if transport == 0x20:
        return [h for h in RC_HEADERS.get(op, []) if op <= 0x0b]
    if transport == 0x60:
        return [DETH] + ([IMM] if op == 0x05 else [])
    return []


def bth(opcode, dest_qp, psn, pad=0, pkey=0xffff, ack_req=False, solicited=False, tver=0):
    """A BTH (IBA 9.2)."""
    b0 = (solicited << 7) | ((pad & 3) << 4) | (tver & 15)
    return struct.pack("!BBHII", opcode, b0, pkey, dest_qp & 0xffffff,
                       (ack_req << 31) | (psn & 0xffffff))


def ext(name, **f):
    """One extension header from its fields (missing fields are 0)."""
    g = f.get
    if name == RETH:
        return struct.pack("!QII", g("va", 0), g("rkey", 0), g("dma_len", 0))
    if name == AETH:
        return struct.pack("!I", (g("syndrome", 0) << 24) | (g("msn", 0) & 0xffffff))
    if name == ATOMIC_ETH:
        return struct.pack("!QIQQ", g("va", 0), g("rkey", 0), g("swap_add", 0), g("compare", 0))
    if name == ATOMIC_ACK_ETH:
        return struct.pack("!Q", g("orig", 0))
    if name in (IMM, IETH):
        return struct.pack("!I", g("value", 0))
    if name == DETH:
        return struct.pack("!II", g("qkey", 0), g("src_qp", 0) & 0xffffff)
    if name == FETH:
        return struct.pack("!I", g("feth", 0))
    raise ValueError(name)


def ipv4_udp(src, dst, l4_payload, ident, sport=0xc000):
    """IPv4 (no options, DF) and UDP headers for l4_payload. The IP ID is
    given: a raw socket would fill in a zero one, and it is ICRC-covered.
    The IP checksum is the kernel's (IP_HDRINCL); the UDP checksum 0 (none,
    allowed over IPv4; both are masked out of the ICRC)."""
    total = IPV4_LEN + UDP_LEN + len(l4_payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident or 1, 0x4000, 64, 17, 0,
                     ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed)
    udp = struct.pack("!HHHH", sport, ROCE_PORT, UDP_LEN + len(l4_payload), 0)
    return ip + udp + l4_payload


def icrc(ip_packet):
    """The ICRC of an IPv4 RoCEv2 packet (IP header on, without its ICRC):
    CRC-32 over 8 bytes of ones for the LRH, then the packet with the IP
    TOS, TTL and checksum, the UDP checksum and BTH byte 4 set to ones
    (IBA annex A17.4), least significant byte first on the wire."""
    b = bytearray(ip_packet)
    b[1] = 0xff
    b[8] = 0xff
    b[10:12] = b"\xff\xff"
    b[IPV4_LEN + 6:IPV4_LEN + 8] = b"\xff\xff"
    if len(b) > IPV4_LEN + UDP_LEN + 4:
        b[IPV4_LEN + UDP_LEN + 4] = 0xff
    return struct.pack("<I", zlib.crc32(b"\xff" * 8 + bytes(b)))


def with_icrc(ip_packet):
    """ip_packet with its ICRC appended and the IP and UDP lengths grown to
    cover it."""
    b = bytearray(ip_packet)
    grow = 4
    b[2:4] = struct.pack("!H", len(b) + grow)
    udp_len = struct.unpack("!H", b[IPV4_LEN + 4:IPV4_LEN + 6])[0]
    b[IPV4_LEN + 4:IPV4_LEN + 6] = struct.pack("!H", udp_len + grow)
    return bytes(b) + icrc(b)


def packets(path):
    """The frames of a little-endian Ethernet pcap."""
    data = open(path, "rb").read()
    if struct.unpack("<I", data[:4])[0] != 0xA1B2C3D4 or struct.unpack("<I", data[20:24])[0] != 1:
        sys.exit(f"{path}: not a little-endian Ethernet pcap")
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack("<I", data[off + 8:off + 12])[0]
        yield data[off + 16:off + 16 + incl]
        off += 16 + incl


def roce_ip(frame, dst=None):
    """The IP packet of a RoCEv2 frame (addressed to dst, if given), or None."""
    ethertype = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if ethertype == 0x0800 and ip[9] == 17:
        addr, udp = ipaddress.ip_address(ip[16:20]), ip[(ip[0] & 15) * 4:]
    elif ethertype == 0x86DD and ip[6] == 17:
        addr, udp = ipaddress.ip_address(ip[24:40]), ip[40:]
    else:
        return None
    if (dst is not None and addr != dst) or struct.unpack("!H", udp[2:4])[0] != ROCE_PORT:
        return None
    return ip


def raw_socket(family=socket.AF_INET):
    """A raw IP socket whose packets carry the headers we built."""
    return socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)
