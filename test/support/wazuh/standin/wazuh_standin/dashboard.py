"""Wazuh dashboard stand-in: an HTTPS listener on server.port from opensearch_dashboards.yml.

It binds 127.0.0.1 only (the real dashboard binds 0.0.0.0). Every request gets a redirect to
/app/login, which is what the real dashboard sends to a browser that has no session.
"""
from __future__ import annotations

import http.server
import os
import signal
import ssl
import sys

CONFIG = "/etc/wazuh-dashboard/opensearch_dashboards.yml"
PID_FILE = "/run/wazuh-dashboard.pid"


def setting(name: str, default: str) -> str:
    with open(CONFIG, encoding="utf-8") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip().strip('"')
    return default


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "/app/login?")
        self.send_header("osd-name", "wazuh-dashboard")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, format: str, *arguments) -> None:
        return


def main() -> int:
    port = int(setting("server.port", "443"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(setting("server.ssl.certificate", ""), setting("server.ssl.key", ""))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(PID_FILE, "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, lambda *_: (os.unlink(PID_FILE), sys.exit(0)))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
