#!/usr/bin/env python3
"""An OTLP/HTTP receiver that accepts and discards every export, for the benchmark of
the app with tracing on (scripts/bench/observability.sh).

Usage: otlp_sink.py PORT
Answers 200 with an empty body to every POST, on 127.0.0.1:PORT, until stopped.
"""

import http.server
import sys


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (the http.server API)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the http.server API)
        pass


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
