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

from roce_packets import packets, raw_socket, roce_ip


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
sock = raw_socket(socket.AF_INET6 if dst.version == 6 else socket.AF_INET)
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
