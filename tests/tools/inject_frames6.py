#!/usr/bin/env python3
"""Sends hand-made Ethernet/IPv6 frames out of an interface with an AF_PACKET
socket, to check that the router drops and counts malformed and martian IPv6
packets. Every packet carries next header 253 (RFC 3692 experimentation), so
a receiving kernel that gets one counts it in Ip6InUnknownProtos.

Usage: inject_frames6.py IFACE SRC_MAC DST_MAC SRC_IP DST_IP COUNT [GAP_S]
Prints a JSON object: frames sent per kind and per expected verdict.
"""
import socket
import struct
import sys

from inject_frames import send

NEXT_HEADER = 253


def ipv6(src, dst, payload=b"x" * 32, hop_limit=64, version=6, payload_len=None):
    pl = payload_len if payload_len is not None else len(payload)
    first = (version << 28) | (0 << 20) | 0  # traffic class 0, flow label 0
    hdr = struct.pack("!IHBB16s16s", first, pl, NEXT_HEADER, hop_limit,
                      socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst))
    return hdr + payload


def main():
    iface, src_mac, dst_mac, src_ip, dst_ip, count = sys.argv[1:7]
    gap = float(sys.argv[7]) if len(sys.argv) > 7 else 0.001
    count = int(count)
    eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) + b"\x86\xdd"
    frames = {
        # forwarded: the control that proves injected frames get through
        "valid": ("forward", eth + ipv6(src_ip, dst_ip)),
        # malformed headers (RFC 8200 §3)
        "short": ("bad_header", eth + ipv6(src_ip, dst_ip)[:30]),
        "bad_version": ("bad_header", eth + ipv6(src_ip, dst_ip, version=4)),
        "payload_length_beyond_frame": ("bad_header", eth + ipv6(src_ip, dst_ip, payload_len=1000)),
        # martians: addresses a router never forwards
        # RFC 4291 §2.5.3: the loopback address, as source or destination
        "src_loopback": ("martian", eth + ipv6("::1", dst_ip)),
        "dst_loopback": ("martian", eth + ipv6(src_ip, "::1")),
        # RFC 4291 §2.5.2: the unspecified address, as source or destination
        "src_unspecified": ("martian", eth + ipv6("::", dst_ip)),
        "dst_unspecified": ("martian", eth + ipv6(src_ip, "::")),
        # RFC 4291 §2.7: a multicast source
        "src_multicast": ("martian", eth + ipv6("ff02::1", dst_ip)),
        # RFC 4291 §2.5.6: a link-local source is never forwarded off its link
        "src_link_local": ("martian", eth + ipv6("fe80::1:2", dst_ip)),
    }
    send(iface, frames, count, gap)


if __name__ == "__main__":
    main()
