"""The daemon's HTTP side: two listeners, each a waitress WSGI server.

- Operations (`--listen`, inside the cluster): `GET /healthz` (alive, loop not wedged), `GET /readyz`
  (completed a cycle or stands by as a follower, reaches its targets), `GET /metrics` (Prometheus),
  `GET /status` (JSON, see `status.StatusBoard.to_json`), `POST /reconcile` (`mcp-gitops reconcile`:
  HMAC-signed with the reconcile secret and recent, see `reconcile_request.py`; a cycle now).
- Webhook (`--webhook-listen`, the one exposed to the internet): `POST /webhook` (also `/hook`), GitHub
  push events. Only this listener answers deliveries, and it answers nothing else.

Why waitress rather than `http.server`: it reads requests in one asynchronous loop and hands complete
requests to a fixed pool of worker threads, so a slow or idle client holds a socket (up to
`connection_limit`, closed after `channel_timeout` without progress), never a thread; it refuses a
body whose Content-Length exceeds `max_request_body_size` as soon as the headers are in (413, the body
is never read) and spools bodies above `inbuf_overflow` to a temporary file instead of memory; and it
listens with a real backlog. The webhook handler refuses a delivery without a well-formed signature
header before touching the body, and verifies the HMAC before parsing JSON.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from reconciler.daemon import reconcile_request, webhook
from reconciler.daemon.config import HttpLimits
from reconciler.daemon.logs import fields
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.status import StatusBoard

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    503: "Service Unavailable",
}
_SIGNATURE = re.compile(r"^sha256=[0-9a-fA-F]{64}$")
_READ_CHUNK = 64 * 1024


@dataclass
class Wiring:
    status: StatusBoard
    metrics: DaemonMetrics
    request_reconcile: Callable[[str], None]
    alive: Callable[[], tuple[bool, str]]
    webhook_secret: bytes | None
    branch: str | None
    reconcile_secret: bytes | None = None


def _respond(
    start_response: StartResponse,
    status: int,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
    head: bool = False,
) -> list[bytes]:
    start_response(
        f"{status} {_REASONS.get(status, 'Unknown')}",
        [("Content-Type", content_type), ("Content-Length", str(len(body))), ("Cache-Control", "no-store")],
    )
    return [] if head else [body]


def _text(start_response: StartResponse, status: int, text: str, head: bool = False) -> list[bytes]:
    return _respond(start_response, status, (text + "\n").encode(), head=head)


def operations_app(wiring: Wiring) -> WsgiApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if path == "/reconcile":
            return _reconcile_request(environ, start_response, wiring)
        if method not in ("GET", "HEAD"):
            return _text(start_response, 405, "method not allowed")
        head = method == "HEAD"
        if path == "/healthz":
            ok, why = wiring.alive()
            return _text(start_response, 200 if ok else 503, why, head)
        if path == "/readyz":
            ok, why = wiring.status.readiness()
            return _text(start_response, 200 if ok else 503, why, head)
        if path == "/metrics":
            return _respond(start_response, 200, wiring.metrics.exposition(), CONTENT_TYPE_LATEST, head)
        if path == "/status":
            body = json.dumps(wiring.status.to_json(), indent=2, default=str).encode()
            return _respond(start_response, 200, body, "application/json", head)
        return _text(start_response, 404, "not found", head)

    return app


def _reconcile_request(environ: dict[str, Any], start_response: StartResponse, wiring: Wiring) -> list[bytes]:
    """`mcp-gitops reconcile`: its own small handler, apart from the webhook's."""
    if environ["REQUEST_METHOD"] != "POST":
        return _text(start_response, 405, "method not allowed")
    length_text = environ.get("CONTENT_LENGTH") or ""
    if not length_text.isdigit():
        verdict = reconcile_request.ReconcileVerdict(411, "a Content-Length is required")
    elif int(length_text) > reconcile_request.MAX_BODY_BYTES:
        verdict = reconcile_request.ReconcileVerdict(413, "body too large")
    else:
        header = environ.get("HTTP_" + reconcile_request.SIGNATURE_HEADER.upper().replace("-", "_"))
        body = _read_body(environ, int(length_text))
        verdict = reconcile_request.handle(wiring.reconcile_secret, body, header)
    log.info("reconcile request", extra=fields(status=verdict.status, result=verdict.message))
    if verdict.trigger:
        wiring.request_reconcile("request")
    return _respond(
        start_response, verdict.status, json.dumps({"message": verdict.message}).encode(), "application/json"
    )


def _read_body(environ: dict[str, Any], length: int) -> bytes:
    """The body, of the announced length (waitress has bounded and buffered it)."""
    stream = environ["wsgi.input"]
    chunks = []
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(_READ_CHUNK, remaining))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def webhook_app(wiring: Wiring, max_body_bytes: int) -> WsgiApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in ("/webhook", "/hook"):
            return _text(start_response, 404, "not found")
        if environ["REQUEST_METHOD"] != "POST":
            return _text(start_response, 405, "method not allowed")
        verdict = _judge(environ, wiring, max_body_bytes)
        log.info(
            "webhook delivery",
            extra=fields(
                status=verdict.status,
                result=verdict.message,
                delivery=environ.get("HTTP_X_GITHUB_DELIVERY"),
                revision=verdict.revision,
            ),
        )
        if verdict.trigger:
            wiring.request_reconcile("webhook")
        body = json.dumps({"message": verdict.message}).encode()
        return _respond(start_response, verdict.status, body, "application/json")

    return app


def _judge(environ: dict[str, Any], wiring: Wiring, max_body_bytes: int) -> webhook.WebhookVerdict:
    """Everything that can be refused without the body is refused before reading it."""
    secret = wiring.webhook_secret
    if not secret:
        return webhook.WebhookVerdict(404, "webhook disabled: no secret configured")
    length_text = environ.get("CONTENT_LENGTH") or ""
    if not length_text.isdigit():
        return webhook.WebhookVerdict(411, "a Content-Length is required")
    length = int(length_text)
    if length > max_body_bytes:
        return webhook.WebhookVerdict(413, f"body larger than {max_body_bytes} bytes")
    signature = (environ.get("HTTP_" + webhook.SIGNATURE_HEADER.upper().replace("-", "_")) or "").strip()
    if not _SIGNATURE.match(signature):
        return webhook.WebhookVerdict(401, "signature missing or malformed")
    event = environ.get("HTTP_" + webhook.EVENT_HEADER.upper().replace("-", "_"))
    return webhook.handle(secret, wiring.branch, event, _read_body(environ, length), signature)


class HttpServer:
    """One waitress listener on its own thread."""

    def __init__(self, name: str, app: WsgiApp, host: str, port: int, limits: HttpLimits) -> None:
        from waitress.server import create_server

        self.name = name
        self.server: Any = create_server(
            app,
            host=host,
            port=port,
            threads=limits.threads,
            connection_limit=limits.connection_limit,
            backlog=limits.backlog,
            channel_timeout=limits.channel_timeout,
            # how often idle connections are checked against channel_timeout
            cleanup_interval=max(1, int(limits.channel_timeout / 2)),
            max_request_body_size=limits.max_body_bytes,
            inbuf_overflow=limits.buffer_bytes,
            max_request_header_size=limits.max_header_bytes,
            ident="mcp-gitops",
            expose_tracebacks=False,
        )
        self.thread = threading.Thread(target=self._run, name=f"http-{name}", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.effective_port)

    def _run(self) -> None:
        try:
            self.server.run()
        except Exception:  # a closed socket on shutdown; anything else is logged, never raised
            log.debug("http listener %s ended", self.name, exc_info=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=2)
        for channel in list(self.server._map.values()):
            channel.close()
        self.thread.join(2)


class DaemonHttp:
    """The operations listener and, when a webhook secret is configured, the webhook listener."""

    def __init__(
        self,
        wiring: Wiring,
        listen: tuple[str, int],
        webhook_listen: tuple[str, int] | None,
        limits: HttpLimits,
    ) -> None:
        self.operations = HttpServer("operations", operations_app(wiring), *listen, limits)
        self.webhook: HttpServer | None = None
        if wiring.webhook_secret and webhook_listen is not None:
            self.webhook = HttpServer(
                "webhook", webhook_app(wiring, limits.max_body_bytes), *webhook_listen, limits
            )

    @property
    def port(self) -> int:
        return self.operations.port

    @property
    def webhook_port(self) -> int | None:
        return self.webhook.port if self.webhook else None

    def start(self) -> None:
        self.operations.start()
        if self.webhook:
            self.webhook.start()

    def stop(self) -> None:
        for server in (self.operations, self.webhook):
            if server is not None:
                server.stop()
