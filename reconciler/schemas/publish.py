"""The publish envelope: one entry file is the body of the registry server's `POST /v1/entries`,
`{"claims": {...}, "server": <server.json>}`."""

from __future__ import annotations

from typing import Any

from reconciler.schemas.base import Strict
from reconciler.schemas.server_json import ServerJSON


class PublishEntry(Strict):
    # Value types (string or array of strings) are the `claims-values` policy's business: the schema
    # accepts any value so that the policy can name the offending claim.
    claims: dict[str, Any] | None = None
    server: ServerJSON
