#!/usr/bin/env python3
"""A tiny stand-in for traefik/whoami: answers every HTTP GET with the pod's
hostname, its addresses and the request, one request per connection.

Usage: whoami.py --name webpod-xxxx [--port 80] [--bind 0.0.0.0]
"""
import argparse
import http.server
import socket
import socketserver
import subprocess


def addresses():
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, timeout=5).stdout
    except Exception:
        return []
    return [line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        lines = [f"Hostname: {self.server.pod_name}"]
        lines += [f"IP: {a}" for a in self.server.pod_addrs]
        lines.append(f"RemoteAddr: {self.client_address[0]}:{self.client_address[1]}")
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--bind", default="0.0.0.0")
    args = ap.parse_args()
    srv = Server((args.bind, args.port), Handler)
    srv.pod_name = args.name
    srv.pod_addrs = addresses()
    srv.serve_forever()


if __name__ == "__main__":
    main()
