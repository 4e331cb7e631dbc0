"""The daemon's HTTP side (stdlib `http.server`, one thread per request):

- `GET /healthz`: the process is alive and its loop is not wedged.
- `GET /readyz`: completed a cycle (or stands by as a follower) and reaches its targets.
- `GET /metrics`: Prometheus text format.
- `GET /status`: JSON, see `status.StatusBoard.to_json`.
- `POST /webhook`: GitHub push events (also `/hook`), HMAC-verified; triggers an immediate reconcile.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from reconciler.daemon import webhook
from reconciler.daemon.logs import fields
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.status import StatusBoard

log = logging.getLogger(__name__)


@dataclass
class Wiring:
    status: StatusBoard
    metrics: DaemonMetrics
    request_reconcile: Callable[[str], None]
    alive: Callable[[], tuple[bool, str]]
    webhook_secret: bytes | None
    branch: str | None


class _Handler(BaseHTTPRequestHandler):
    server_version = "mcp-gitops"
    sys_version = ""
    wiring: Wiring  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http " + format % args)

    def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _text(self, status: int, text: str) -> None:
        self._send(status, (text + "\n").encode())

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data, indent=2, default=str).encode(), "application/json")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        w = self.wiring
        if path == "/healthz":
            ok, why = w.alive()
            self._text(200 if ok else 503, why)
        elif path == "/readyz":
            ok, why = w.status.readiness()
            self._text(200 if ok else 503, why)
        elif path == "/metrics":
            self._send(200, w.metrics.exposition(), CONTENT_TYPE_LATEST)
        elif path == "/status":
            self._json(200, w.status.to_json())
        else:
            self._text(404, "not found")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in ("/webhook", "/hook"):
            self._text(404, "not found")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > webhook.MAX_BODY_BYTES:
            self._text(413 if length > 0 else 400, "bad Content-Length")
            return
        body = self.rfile.read(length)
        verdict = webhook.handle(
            self.wiring.webhook_secret,
            self.wiring.branch,
            self.headers.get(webhook.EVENT_HEADER),
            body,
            self.headers.get(webhook.SIGNATURE_HEADER),
        )
        log.info(
            "webhook delivery",
            extra=fields(
                status=verdict.status,
                result=verdict.message,
                delivery=self.headers.get("X-GitHub-Delivery"),
                revision=verdict.revision,
            ),
        )
        if verdict.trigger:
            self.wiring.request_reconcile("webhook")
        self._json(verdict.status, {"message": verdict.message})


class HttpServer:
    def __init__(self, host: str, port: int, wiring: Wiring) -> None:
        handler = type("Handler", (_Handler,), {"wiring": wiring})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
