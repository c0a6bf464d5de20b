"""The model forwarder inside a harness task's sandbox (docs/ARCHITECTURE.md, "Harness tasks").

The sandbox has no network: its only way to the language model is the host proxy's Unix socket, bound into it.
Standard clients speak HTTP to a URL, so this forwarder listens on the sandbox's own loopback (127.0.0.1:<port>,
which is what OPENAI_BASE_URL names) and passes every request, unchanged, to the socket, and the answer back. It
holds no key and decides nothing: the host proxy counts, caps, caches and records. Standard library only.

Usage (Ratchet starts it before the harness command): python model_shim.py <socket> <port> <ready-file>
"""

import http.client
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SOCKET = sys.argv[1]
PORT = int(sys.argv[2])
READY = sys.argv[3]
PASSED = ("content-type", "x-ratchet-task", "accept")


class UnixConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(600)
        self.sock.connect(SOCKET)


class Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _forward(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length > 0 else None
        headers = {k: v for k, v in self.headers.items() if k.lower() in PASSED}
        try:
            conn = UnixConnection("localhost")
            conn.request(self.command, self.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            status, ctype = r.status, r.getheader("content-type", "application/json")
            conn.close()
        except OSError as e:
            data = ('{"error": {"message": "ratchet model forwarder: %s", "code": "forwarder"}}' % type(e).__name__).encode()
            status, ctype = 502, "application/json"
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _forward
    do_POST = _forward

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Forward)
    server.daemon_threads = True
    open(READY, "w").close()
    server.serve_forever()


if __name__ == "__main__":
    main()
