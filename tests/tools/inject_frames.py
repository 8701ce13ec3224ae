#!/usr/bin/env python3
"""Sends hand-made Ethernet/IPv4 frames out of an interface with an AF_PACKET
socket, to check that the router drops and counts malformed and martian
packets. Every IPv4 packet carries protocol 253 (RFC 3692 experimentation) so
a receiving kernel that gets one counts it in Ip:InUnknownProtos.

Usage: inject_frames.py IFACE SRC_MAC DST_MAC SRC_IP DST_IP COUNT [GAP_S]
Prints a JSON object: frames sent per kind and per expected verdict.
"""
import json
import socket
import struct
import sys
import time

PROTO = 253


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, payload=b"x" * 32, ttl=64, version=4, ihl=5, total_len=None, bad_csum=False):
    hdr_len = 20
    tl = total_len if total_len is not None else hdr_len + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, tl, 0x1234, 0, ttl, PROTO, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    c = csum(hdr[: max(ihl, 1) * 4] if ihl >= 5 else hdr)
    if bad_csum:
        c ^= 0x5A5A
    hdr = hdr[:10] + struct.pack("!H", c) + hdr[12:]
    return hdr + payload


def main():
    iface, src_mac, dst_mac, src_ip, dst_ip, count = sys.argv[1:7]
    gap = float(sys.argv[7]) if len(sys.argv) > 7 else 0.001
    count = int(count)
    eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) + b"\x08\x00"
    frames = {
        # forwarded: the control that proves injected frames get through
        "valid": ("forward", eth + ipv4(src_ip, dst_ip)),
        # malformed headers
        "bad_checksum": ("bad_header", eth + ipv4(src_ip, dst_ip, bad_csum=True)),
        "short": ("bad_header", eth + ipv4(src_ip, dst_ip)[:10]),
        "ihl_below_5": ("bad_header", eth + ipv4(src_ip, dst_ip, ihl=4)),
        "total_length_beyond_frame": ("bad_header", eth + ipv4(src_ip, dst_ip, total_len=1000)),
        "bad_version": ("bad_header", eth + ipv4(src_ip, dst_ip, version=6)),
        # martians (RFC 1812 5.3.7)
        "src_loopback": ("martian", eth + ipv4("127.0.0.1", dst_ip)),
        "src_this_network": ("martian", eth + ipv4("0.1.2.3", dst_ip)),
        "src_class_e": ("martian", eth + ipv4("240.0.0.1", dst_ip)),
        "src_multicast": ("martian", eth + ipv4("224.0.0.5", dst_ip)),
        "src_limited_broadcast": ("martian", eth + ipv4("255.255.255.255", dst_ip)),
        "dst_loopback": ("martian", eth + ipv4(src_ip, "127.0.0.1")),
        "dst_this_network": ("martian", eth + ipv4(src_ip, "0.1.2.3")),
        "dst_class_e": ("martian", eth + ipv4(src_ip, "240.0.0.1")),
        "dst_limited_broadcast": ("martian", eth + ipv4(src_ip, "255.255.255.255")),
    }
    send(iface, frames, count, gap)


def send(iface, frames, count, gap):
    """Sends every frame of `frames` ({kind: (verdict, bytes)}) `count`
    times, `gap` seconds between rounds (bounded: count rounds), and prints
    what was sent and the verdicts expected (also for inject_frames6.py)."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    sent = {k: 0 for k in frames}
    for _ in range(count):
        for kind, (_, frame) in frames.items():
            s.send(frame)
            sent[kind] += 1
        if gap:
            time.sleep(gap)
    verdicts = {}
    for kind, (verdict, _) in frames.items():
        verdicts[verdict] = verdicts.get(verdict, 0) + sent[kind]
    print(json.dumps({"sent": sent, "expected": verdicts}))


if __name__ == "__main__":
    main()
