"""A thin HTTP layer over the Kubernetes API: JSON in, JSON out, status codes kept.

It uses the `kubernetes` client only for what it does well (credentials, TLS, token refresh, connection
pooling) and skips its model classes: deserialising every object into generated models would cost more
than the apply itself, and the typed APIs hide the 201/409 distinctions the planner needs.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from reconciler.targets import TargetError, unreachable

# Statuses after which the same request may well succeed: throttled, or the server is (re)starting.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Resource:
    """One kind as the API server serves it (from discovery)."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def type_name(self) -> str:
        """`toolhive.stacklok.dev/v1beta1 MCPServer`, the way errors name a kind."""
        return f"{self.api_version} {self.kind}"

    def collection_path(self, namespace: str | None = None) -> str:
        base = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{quote(namespace, safe='')}/{self.plural}"
        return f"{base}/{self.plural}"

    def path(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection_path(namespace)}/{quote(name, safe='')}"


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        return str(self.body.get("message") or f"HTTP {self.status}")

    @property
    def causes(self) -> list[dict[str, Any]]:
        return list((self.body.get("details") or {}).get("causes") or [])

    def error(self, doing: str) -> TargetError:
        """This (failed) response as a TargetError, retryable for statuses that may pass."""
        retryable = self.status in RETRYABLE_STATUSES
        return TargetError(
            f"{doing} failed: {self.message}",
            retryable=retryable,
            reason="ApiUnavailable" if retryable else "ApiRefused",
        )


class KubeApi:
    """Requests against one cluster. Thread-safe: the planner issues dry runs from a thread pool."""

    def __init__(self, api_client: Any, description: str, request_timeout: float) -> None:
        self.api_client = api_client
        self.description = description  # "https://host:6443 (context prod)", for messages
        self.request_timeout = request_timeout
        self._groups: dict[str, dict[str, Resource] | None] = {}
        self._groups_lock = threading.Lock()

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: float | None = None,
    ) -> Response:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            serialized = self.api_client.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            raw = self.api_client.call_api(*serialized, _request_timeout=timeout or self.request_timeout)
            data = raw.read()
        except Exception as exc:
            if not _is_transport_error(exc):
                raise
            reason = getattr(exc, "reason", None) or exc
            raise unreachable(f"cannot reach the cluster at {self.description}: {reason}") from None
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = {"message": data[:200].decode(errors="replace")}
        return Response(raw.status, parsed if isinstance(parsed, dict) else {"items": parsed})

    # -- discovery ------------------------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Resource | None:
        """How the server serves `kind` at `api_version`; None when it does not (a missing CRD)."""
        group = self._group_resources(api_version)
        return None if group is None else group.get(kind)

    def _group_resources(self, api_version: str) -> dict[str, Resource] | None:
        with self._groups_lock:
            if api_version in self._groups:
                return self._groups[api_version]
        path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        response = self.request("GET", path)
        found: dict[str, Resource] | None
        if response.status == 404:
            found = None
        elif not response.ok:
            raise response.error(f"discovery of {api_version} on {self.description}")
        else:
            found = {}
            for item in response.body.get("resources", []):
                if "/" in item.get("name", ""):
                    continue  # subresources such as mcpservers/status
                found[item["kind"]] = Resource(
                    api_version, item["kind"], item["name"], bool(item["namespaced"])
                )
        with self._groups_lock:
            self._groups[api_version] = found
        return found

    def close(self) -> None:
        close = getattr(self.api_client, "close", None)
        if close is not None:
            close()


def _is_transport_error(exc: Exception) -> bool:
    """Connection refused, TLS failures, timeouts: the cluster cannot be reached (the client raises
    urllib3 errors for most, and its own ApiException with status 0 for TLS)."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    return isinstance(exc, HTTPError | OSError) or (isinstance(exc, ApiException) and not exc.status)
