"""The strict base every mirrored model uses: unknown fields and wrong types are errors.

Constraints are declared as pydantic `pattern=` / `Literal` / length and range bounds wherever the
external schema allows it, because those run in pydantic-core (Rust): `validate` checks ten thousand
entries, so a Python validator per field would dominate its time.
"""

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError


class Strict(BaseModel):
    # strict: YAML gives real types, so "3" for an integer is a mistake worth reporting, not coercing.
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, frozen=True)


class Open(BaseModel):
    """For free-form blocks we pass through (podTemplateSpec, _meta, config): shape not checked."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


# A mapping whose content another system owns (a pod template, vMCP config, publisher metadata).
FreeForm = dict[str, Any]

HTTP_URL_PATTERN = r"^https?://[^\s]+$"
HTTPS_URL_PATTERN = r"^https://[^\s]+$"
# Go's time.ParseDuration: an optional sign, then "0" or number+unit groups ("1h30m", "1.5s", "300ms").
GO_DURATION_PATTERN = r"^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$"
# RFC 1123 label: Kubernetes namespaces, registry-server source names.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
# RFC 1123 subdomain: Kubernetes object names.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

NonEmpty = Annotated[str, Field(min_length=1)]
HttpUrl = Annotated[str, Field(pattern=HTTP_URL_PATTERN)]
HttpsUrl = Annotated[str, Field(pattern=HTTPS_URL_PATTERN)]
GoDuration = Annotated[str, Field(pattern=GO_DURATION_PATTERN)]
DnsLabel = Annotated[str, Field(pattern=DNS_LABEL_PATTERN)]


def rule_error(kind: str, message: str) -> PydanticCustomError:
    """An error raised by one of our validators. `message` must describe the expectation and never
    quote the input: a misplaced secret could be the input."""
    return PydanticCustomError(kind, message)


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration_seconds(text: str) -> float:
    """Seconds in a Go duration string such as "30m" or "1h30m" (the syncPolicy.interval format)."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if s == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(s):
        match = _DURATION_PART.match(s, pos)
        if match is None:
            raise ValueError(f"not a duration: {text!r}")
        total += float(match.group(1)) * _DURATION_UNIT[match.group(2)]
        pos = match.end()
    if not s:
        raise ValueError(f"not a duration: {text!r}")
    return sign * total
