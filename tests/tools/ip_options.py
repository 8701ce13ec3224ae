#!/usr/bin/env python3
"""Sends IPv4 packets with hand-made options out of an interface (AF_PACKET)
and reports, per case, the pointer of the ICMP Parameter Problem that comes
back (read from a raw ICMP socket), or null when none arrives within the
wait. Used by tests/tests/forwarding.rs::ip_options.

Usage: ip_options.py IFACE SRC_MAC DST_MAC SRC_IP DST_IP [WAIT_S]
Prints a JSON object {case: pointer-or-null}.
"""
import json
import select
import socket
import struct
import sys
import time

# The Internet checksum, from the frame injector beside this script.
from inject_frames import csum

PROTO = 253  # RFC 3692 experimentation: nothing answers it




def ipv4(src, dst, ident, opts, payload=b"x" * 16):
    hl = 20 + len(opts)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | (hl // 4), 0, hl + len(payload), ident, 0, 64, PROTO,
                      0, socket.inet_aton(src), socket.inet_aton(dst)) + opts
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


CASES = {
    # Record Route with length 0: the length octet (21) is in error.
    "rr_len0": bytes([7, 0, 4, 0]),
    # Record Route with pointer 3 (< 4): the pointer octet, 22.
    "rr_ptr3": bytes([7, 7, 3, 0, 0, 0, 0, 0]),
    # Timestamp with the undefined flag 2: the flag octet, 23.
    "ts_flag2": bytes([68, 12, 5, 2] + [0] * 8),
    # Loose Source Route via dst itself: dropped silently (RFC 7126; Linux
    # with accept_source_route=0).
    "lsrr": bytes([131, 7, 4, 192, 168, 20, 100, 0]),
    # Router Alert, well formed: forwarded, no error.
    "router_alert": bytes([148, 4, 0, 0]),
}


def main():
    iface, src_mac, dst_mac, src_ip, dst_ip = sys.argv[1:6]
    wait = float(sys.argv[6]) if len(sys.argv) > 6 else 2.0
    eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) + b"\x08\x00"
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    tx.bind((iface, 0))
    rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    result = {}
    for i, (name, opts) in enumerate(CASES.items()):
        ident = 0x5100 + i
        tx.send(eth + ipv4(src_ip, dst_ip, ident, opts))
        result[name] = None
        deadline = time.monotonic() + wait
        while result[name] is None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([rx], [], [], left)[0]:
                break
            pkt = rx.recv(2048)
            ihl = (pkt[0] & 15) * 4
            icmp = pkt[ihl:]
            if len(icmp) < 8 + 20 or icmp[0] != 12:
                continue
            quoted = icmp[8:]
            if struct.unpack("!H", quoted[4:6])[0] == ident:
                result[name] = {"code": icmp[1], "pointer": icmp[4], "from": socket.inet_ntoa(pkt[12:16])}
        # Param problems are rate-limited per destination by Linux (burst 6,
        # then one a second): stay well inside.
        time.sleep(0.1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
