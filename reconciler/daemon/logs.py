"""Structured logs: one JSON object per line on stderr, secrets scrubbed on the way out.

Fields beyond the message go in `extra={"fields": {...}}`. Every known secret value (Git token, webhook
secret, database password) is registered with `add_secret` and replaced by `***` in whatever is logged,
whichever code path put it there; URLs are logged through `redact_url`, which drops any user info.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from reconciler import secrets

# The project's one scrubber (reconciler/secrets.py), under the names the daemon uses.
add_secret = secrets.register
scrub = secrets.scrub


def redact_url(url: str) -> str:
    """A URL fit for logs: `https://user:token@host/x` -> `https://***@host/x`; paths pass unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))
    if not parts.scheme and "@" in url and ":" in url:
        # scp-like syntax (git@github.com:org/repo.git): the user name is not a secret, keep it.
        return url
    return url


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return scrub(json.dumps(entry, default=str, ensure_ascii=False))


def configure(level: str = "info", stream: Any = None) -> None:
    """JSON lines on stderr for the whole process (the daemon owns its process)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Client libraries log request URLs at DEBUG; keep them at WARNING whatever our level is.
    for noisy in ("urllib3", "kubernetes", "git", "watchfiles"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fields(**values: Any) -> dict[str, Any]:
    """`log.info("msg", extra=fields(revision=...))`."""
    return {"fields": values}
