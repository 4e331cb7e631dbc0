"""Functions the registry policies call: the claims semantics (reconciler/policy/claims.py) bound to the
repository's registry config, and readings of the config and of server.json the way the registry server
reads them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from reconciler.documents import Document
from reconciler.policy.claims import (
    authz_configured,
    canonical,
    claims_value_errors,
    has_role,
    visible,
)
from reconciler.repository import entry_key
from reconciler.schemas.base import go_duration_seconds
from reconciler.schemas.registry_config import as_loaded
from reconciler.schemas.server_rows import (
    duplicate_rows,
    meta_size_limit,
    publisher_meta_fits,
    publisher_meta_size,
)


def _claim_blocks(config: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(field path, claims) of every source and registry."""
    blocks = []
    for field in ("sources", "registries"):
        items = config.get(field)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, Mapping) and isinstance(item.get("claims"), Mapping):
                blocks.append((f"{field}[{index}].claims", item["claims"]))
    return blocks


def config_claim_errors(config: Mapping[str, Any]) -> list[str]:
    """Field paths of source and registry claims whose value is not a string or array of strings."""
    return [
        f"{path}['{key}']" for path, claims in _claim_blocks(config) for key in claims_value_errors(claims)
    ]


def mixed_case_keys(config: Mapping[str, Any]) -> list[str]:
    """Field paths of claim and role-rule keys the server's config loader will lower-case."""
    paths = [
        f"{path}['{key}']"
        for path, claims in _claim_blocks(config)
        for key in claims
        if str(key) != str(key).lower()
    ]
    auth = config.get("auth")
    authz = auth.get("authz") if isinstance(auth, Mapping) else None
    roles = authz.get("roles") if isinstance(authz, Mapping) else None
    for role, rules in roles.items() if isinstance(roles, Mapping) else []:
        for index, rule in enumerate(rules if isinstance(rules, list) else []):
            if isinstance(rule, Mapping):
                paths += [f"auth.authz.roles.{role}[{index}]['{k}']" for k in rule if k != str(k).lower()]
    return paths


_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def insecure_issuers(config: Mapping[str, Any]) -> list[str]:
    """Field paths of provider issuer URLs that are plain http on a non-loopback host."""
    auth = config.get("auth")
    oauth = auth.get("oauth") if isinstance(auth, Mapping) else None
    providers = oauth.get("providers") if isinstance(oauth, Mapping) else None
    paths = []
    for index, provider in enumerate(providers if isinstance(providers, list) else []):
        issuer = provider.get("issuerUrl") if isinstance(provider, Mapping) else None
        if not isinstance(issuer, str) or not issuer.startswith("http://"):
            continue
        try:
            host = urlsplit(issuer).hostname
        except ValueError:
            host = None
        if host not in _LOOPBACK_HOSTS:
            paths.append(f"auth.oauth.providers[{index}].issuerUrl")
    return paths


def unlabelled(config: Mapping[str, Any]) -> list[str]:
    """Field paths of the registries and sources that carry no claims."""
    paths = []
    for field in ("registries", "sources"):
        items = config.get(field)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, Mapping) and not item.get("claims"):
                paths.append(f"{field}[{index}]")
    return paths


def api_timeouts(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`{path, seconds}` of every sources[].api.timeout; seconds is None when it is not a Go duration."""
    found = []
    sources = config.get("sources")
    for index, source in enumerate(sources if isinstance(sources, list) else []):
        api = source.get("api") if isinstance(source, Mapping) else None
        if isinstance(api, Mapping) and api.get("timeout") is not None:
            found.append(
                {"path": f"sources[{index}].api.timeout", "seconds": duration_seconds(api["timeout"])}
            )
    return found


def managed_source(config: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    sources = (config or {}).get("sources")
    for source in sources if isinstance(sources, list) else []:
        if isinstance(source, Mapping) and "managed" in source:
            return source
    return None


def startup_claims(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The claims every entry of the managed source gets at the registry server's next start-up
    (PropagateSourceClaimsToEntries): the source's config claims as viper reads them; None when the
    config declares no managed source (nothing is overwritten then)."""
    source = managed_source(config)
    if source is None:
        return None
    claims = source.get("claims")
    return as_loaded(claims) if isinstance(claims, Mapping) else {}


def duration_seconds(text: Any) -> float | None:
    """Seconds in a Go duration, or None when `text` is not one."""
    if not isinstance(text, str):
        return None
    try:
        return go_duration_seconds(text)
    except ValueError:
        return None


def pruned_entries(head: Iterable[Document], base: Iterable[Document], prune: bool) -> list[dict[str, Any]]:
    """The entry versions of the base revision that left the repository and that `apply` deletes (with
    `prune.registry`): `{path, name, version, claims}` each, claims as the base revision has them."""
    base = list(base)
    if not prune or not base:
        return []
    present = {entry_key(doc) for doc in head}
    gone = []
    for doc in base:
        key = entry_key(doc)
        if key is not None and key not in present:
            server, claims = doc.data["server"], doc.data.get("claims")
            gone.append(
                {
                    "path": doc.path,
                    "name": server["name"],
                    "version": str(server.get("version")),
                    "claims": claims if isinstance(claims, Mapping) else {},
                }
            )
    return gone


def registry_functions(
    config: Mapping[str, Any] | None,
    current: Callable[[], Document],
    entry_count: int,
    pruned: list[dict[str, Any]],
) -> dict[str, Callable[..., Any]]:
    """`current` returns the entry being evaluated: the entry rules read it from there and answer with a
    boolean or a short list, as converting claims or a whole server.json between CEL and Python on every
    call of 10,000 entries would dominate validate's time."""
    managed_claims = startup_claims(config)
    managed_key = None if managed_claims is None else canonical(managed_claims)
    configured = authz_configured(config)
    limit = meta_size_limit(config)

    def server_json() -> Mapping[str, Any]:
        server = current().data.get("server")
        return server if isinstance(server, Mapping) else {}

    def survives_restart() -> bool:
        claims = current().data.get("claims")
        return (
            managed_key is None or canonical(claims if isinstance(claims, Mapping) else None) == managed_key
        )

    def meta_fits() -> bool:
        server = server_json()
        return "_meta" not in server or publisher_meta_fits(server, limit)

    return {
        "visible": visible,
        "hasRole": lambda token, role: has_role(token, config, role),
        "authzConfigured": lambda: configured,
        "startupClaims": lambda: managed_claims,
        "hasManagedSource": lambda: managed_claims is not None,
        "entryCount": lambda: entry_count,
        "prunedEntries": lambda: pruned,
        "survivesRestart": survives_restart,
        "configClaimErrors": config_claim_errors,
        "mixedCaseKeys": mixed_case_keys,
        "insecureIssuers": insecure_issuers,
        "unlabelled": unlabelled,
        "apiTimeouts": api_timeouts,
        "metaFits": meta_fits,
        "publisherMetaSize": lambda: publisher_meta_size(server_json()),
        "maxMetaSize": lambda: limit,
        "duplicateRows": lambda: duplicate_rows(server_json()),
    }
