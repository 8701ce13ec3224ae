#!/usr/bin/env python3
"""A tiny stand-in for traefik/whoami: answers every HTTP GET with the pod's
hostname, its addresses and the request, one request per connection.

Usage: whoami.py --name webpod-xxxx [--port 80] [--bind 0.0.0.0]
       --bind :: listens on IPv6 and IPv4 (one dual-stack socket).
"""
import argparse
import http.server
import socket
import socketserver
import subprocess


def addresses(families=("-4",)):
    found = []
    for fam in families:
        try:
            out = subprocess.run(["ip", fam, "-o", "addr", "show"], capture_output=True, text=True, timeout=5).stdout
        except Exception:
            continue
        found += [line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3]
    return found


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        lines = [f"Hostname: {self.server.pod_name}"]
        lines += [f"IP: {a}" for a in self.server.pod_addrs]
        host = self.client_address[0]
        if host.startswith("::ffff:") and "." in host:
            host = host[len("::ffff:"):]  # an IPv4 client on the dual-stack socket
        elif ":" in host:
            host = f"[{host}]"
        lines.append(f"RemoteAddr: {host}:{self.client_address[1]}")
        lines.append(f"{self.command} {self.path} {self.request_version}")
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):  # keep the lab's logs quiet
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    address_family = socket.AF_INET


class Server6(Server):
    address_family = socket.AF_INET6

    def server_bind(self):
        # Dual stack: IPv4 clients arrive as ::ffff:a.b.c.d.
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--bind", default="0.0.0.0")
    args = ap.parse_args()
    v6 = ":" in args.bind
    srv = (Server6 if v6 else Server)((args.bind, args.port), Handler)
    srv.pod_name = args.name
    srv.pod_addrs = addresses(("-4", "-6") if v6 else ("-4",))
    srv.serve_forever()


if __name__ == "__main__":
    main()
