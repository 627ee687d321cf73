"""A minimal MCP server (Streamable HTTP, JSON answers) that reports the request headers it got.

Used behind a reverse proxy with Portcullis ForwardAuth (forward_auth.sh), and behind Portcullis
(jwt_issuer.mjs, federation.sh): `initialize` opens a session; every other request is answered
with `{"headers": {...}}`, the lower-cased request headers, so the test can see exactly what
the proxy let through. `tools/list` also lists one tool, `headers`, and `tools/call` answers its
text, the same headers as JSON, so that an SDK client can call it. Listens on 127.0.0.1 only.

    python3 header_upstream.py PORT [LOG]

With LOG, every request is appended to that file as one JSON line (method, path, headers), so a
test can prove that a refused request never reached the upstream.
"""

import json
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the test prints what matters
        pass

    def _send(self, status, body=None, headers=()):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self):
        if LOG:
            with open(LOG, "a", encoding="utf-8") as log:
                headers = {name.lower(): value for name, value in self.headers.items()}
                log.write(json.dumps({"method": self.command, "path": self.path, "headers": headers}) + "\n")

    def do_GET(self):
        self._record()
        self._send(405, None, [("Allow", "POST")])

    def do_DELETE(self):
        self._record()
        self._send(200)

    def do_POST(self):
        self._record()
        length = int(self.headers.get("Content-Length", "0"))
        try:
            message = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            self._send(400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
            return
        if not isinstance(message, dict) or "id" not in message:
            self._send(202)
            return
        if message.get("method") == "initialize":
            result = {
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "header-upstream", "version": "1"},
            }
            session = secrets.token_hex(16)
            self._send(200, {"jsonrpc": "2.0", "id": message["id"], "result": result},
                       [("Mcp-Session-Id", session)])
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        result = {"headers": headers}
        # Enough of MCP's tools for an SDK client: one tool, `headers`, whose text is the same.
        if message.get("method") == "tools/list":
            result["tools"] = [{"name": "headers", "description": "The request headers this server got",
                                "inputSchema": {"type": "object", "properties": {}}}]
        elif message.get("method") == "tools/call":
            result["content"] = [{"type": "text", "text": json.dumps(headers)}]
        self._send(200, {"jsonrpc": "2.0", "id": message["id"], "result": result})


LOG = sys.argv[2] if len(sys.argv) > 2 else None

if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.serve_forever()
