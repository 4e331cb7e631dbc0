"""A local stand-in for the few GitHub REST endpoints mcp-gitops uses, recording every request:
issue comments (list, paginated; create; update) and commit statuses."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FORBIDDEN_TOKEN = "fork-token"
PAGE = 2  # small pages, so pagination is exercised


@dataclass
class Recorded:
    method: str
    path: str
    authorization: str
    api_version: str
    body: Any


@dataclass
class FakeGitHub:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    # (owner/name, number) -> [{"id", "body"}]
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1000

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]


def _handler(state: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            state.requests.append(
                Recorded(
                    self.command,
                    self.path,
                    self.headers.get("Authorization", ""),
                    self.headers.get("X-GitHub-Api-Version", ""),
                    body,
                )
            )
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if not token:
                return self._answer(401, {"message": "Requires authentication"})
            if self.command != "GET" and token == FORBIDDEN_TOKEN:
                return self._answer(403, {"message": "Resource not accessible by integration"})
            path, _, query = self.path.partition("?")
            listing = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", path)
            one = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)", path)
            status = re.fullmatch(r"/repos/([^/]+/[^/]+)/statuses/([0-9a-f]+)", path)
            if listing and self.command == "GET":
                items = state.comments.get((listing.group(1), int(listing.group(2))), [])
                page = int(dict(p.split("=") for p in query.split("&") if "=" in p).get("page", "1"))
                chunk = items[(page - 1) * PAGE : page * PAGE]
                headers = {}
                if page * PAGE < len(items):
                    headers["Link"] = f'<{state.url}{path}?per_page=100&page={page + 1}>; rel="next"'
                return self._answer(200, chunk, headers)
            if listing and self.command == "POST":
                state.next_id += 1
                made = {"id": state.next_id, "body": body["body"]}
                state.comments.setdefault((listing.group(1), int(listing.group(2))), []).append(made)
                return self._answer(201, made)
            if one and self.command == "PATCH":
                for items in state.comments.values():
                    for item in items:
                        if item["id"] == int(one.group(2)):
                            item["body"] = body["body"]
                            return self._answer(200, item)
                return self._answer(404, {"message": "Not Found"})
            if status and self.command == "POST":
                state.statuses.append({"sha": status.group(2), **body})
                return self._answer(201, body)
            return self._answer(404, {"message": "Not Found"})

        do_GET = do_POST = do_PATCH = _handle

    return Handler


@contextmanager
def fake_github() -> Iterator[FakeGitHub]:
    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
