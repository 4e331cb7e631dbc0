"""Talking to a running daemon's HTTP endpoints (`status`, `reconcile`): stdlib urllib, bounded
timeouts, errors with their reason."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from reconciler.commands.common import fail

URL_ENV = "MCP_GITOPS_URL"
DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT = 10.0


def url_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--url",
        envvar=URL_ENV,
        default=DEFAULT_URL,
        show_default=True,
        help=f"The daemon's --listen address. Env: {URL_ENV}.",
    )(func)


def call(
    url: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """(HTTP status, parsed JSON body); exit 2 with the reason when the daemon cannot be reached or
    does not answer JSON."""
    target = url.rstrip("/") + path
    if not target.startswith(("http://", "https://")):
        fail(f"--url {url}: not an http:// or https:// address")
    request = urllib.request.Request(target, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        fail(f"cannot reach the daemon at {url}: {getattr(exc, 'reason', exc)}")
    try:
        return status, json.loads(raw)
    except ValueError:
        fail(f"{target} answered {status} without JSON: is {url} an mcp-gitops daemon?")


def secret_from(path: str | None, env_name: str) -> bytes:
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            fail(f"--secret-file {path}: cannot read: {exc.strerror}")
    else:
        value = os.environ.get(env_name, "").strip()
    if not value:
        fail(f"no secret: pass --secret-file or set {env_name} (the daemon's --reconcile-secret-file)")
    return value.encode()
