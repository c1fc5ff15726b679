# SPDX-License-Identifier: GPL-2.0
"""Sends RoCEv2 packets from pcap captures to this host's peer as they were
captured (raw IP sockets keep the IP header, so the ICRC stays valid), or
damaged. Usage: replay_roce.py DST_IP [--corrupt|--truncate] PCAP...
Sends the captured packets addressed to DST_IP (UDP port 4791) and prints
how many it sent."""

import ipaddress
import socket
import struct
import sys


def packets(path):
    data = open(path, "rb").read()
    if struct.unpack("<I", data[:4])[0] != 0xA1B2C3D4 or struct.unpack("<I", data[20:24])[0] != 1:
        sys.exit(f"{path}: not a little-endian Ethernet pcap")
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack("<I", data[off + 8:off + 12])[0]
        yield data[off + 16:off + 16 + incl]
        off += 16 + incl


def roce_ip(frame, dst):
    """The IP packet of a RoCEv2 frame addressed to dst, or None."""
    ethertype = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if ethertype == 0x0800 and ip[9] == 17:
        hlen, addr, udp = (ip[0] & 15) * 4, ipaddress.ip_address(ip[16:20]), None
        udp = ip[hlen:]
    elif ethertype == 0x86DD and ip[6] == 17:
        addr, udp = ipaddress.ip_address(ip[24:40]), ip[40:]
    else:
        return None
    if addr != dst or struct.unpack("!H", udp[2:4])[0] != 4791:
        return None
    return ip


def damage(ip, how):
    ip = bytearray(ip)
    if how == "--corrupt":
        # One payload bit in the last byte before the ICRC.
        ip[-5] ^= 0x01
    elif how == "--truncate":
        # A UDP payload of 6 bytes: less than a BTH.
        v6 = ip[0] >> 4 == 6
        l3 = 40 if v6 else (ip[0] & 15) * 4
        ip = ip[:l3 + 8 + 6]
        udp_len = 8 + 6
        ip[l3 + 4:l3 + 6] = struct.pack("!H", udp_len)
        if v6:
            ip[4:6] = struct.pack("!H", udp_len)
        else:
            ip[2:4] = struct.pack("!H", len(ip))
    return bytes(ip)


dst = ipaddress.ip_address(sys.argv[1])
how = sys.argv[2] if sys.argv[2].startswith("--") else None
files = sys.argv[3:] if how else sys.argv[2:]
family = socket.AF_INET6 if dst.version == 6 else socket.AF_INET
sock = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)
sent = 0
for path in files:
    for frame in packets(path):
        ip = roce_ip(frame, dst)
        if ip is None:
            continue
        if how:
            ip = damage(ip, how)
        sock.sendto(ip, (str(dst), 0))
        sent += 1
        if how:
            break
print(sent)
