"""Verify the publisher's JWT for pull-request mode.

A token that fails verification is an error (exit 2) with the reason; it is never treated as "no
token", which would let a forged or expired token pass silently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.extras import require_extra

# Asymmetric algorithms only: no `none`, and no HMAC, so a public key can never be used as an HMAC
# secret (the classic RS256/HS256 confusion).
ALLOWED_ALGORITHMS = [
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
]


class TokenError(Exception):
    """The token could not be verified; the message says why."""


def read_token(value: str) -> str:
    """`--token` takes the JWT itself or `@file`."""
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_text().strip()
        except OSError as exc:
            raise TokenError(f"cannot read token file {value[1:]}: {exc.strerror}") from exc
    return value.strip()


def _providers(config: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    auth = (config or {}).get("auth") or {}
    return list(((auth.get("oauth") or {}).get("providers")) or [])


def _key_for(token: str, header: Mapping[str, Any], key_file: str | None, provider: Mapping[str, Any]) -> Any:
    import jwt

    if key_file is not None:
        text = Path(key_file).read_text()
        if text.lstrip().startswith("{"):
            jwks = jwt.PyJWKSet.from_dict(json.loads(text))
            kid = header.get("kid")
            matching = [k for k in jwks.keys if kid is None or k.key_id == kid]
            if not matching:
                raise TokenError(f"no key with kid {kid!r} in {key_file}")
            return matching[0].key
        return text  # a PEM public key
    url = provider.get("jwksUrl")
    if not url:
        raise TokenError(
            "no key to verify the token: pass --jwks (a JWKS or PEM file), or set the "
            "provider's jwksUrl in the registry config"
        )
    try:
        return jwt.PyJWKClient(url, timeout=10).get_signing_key_from_jwt(token).key
    except jwt.PyJWKClientError as exc:
        raise TokenError(f"cannot fetch the signing key from {url}: {exc}") from exc


def verify_token(token: str, config: Mapping[str, Any] | None, key_file: str | None = None) -> dict[str, Any]:
    """The verified claims of `token`, checked against the registry config's OAuth provider whose
    issuer matches (issuer and audience), its signature, `exp` and `nbf`."""
    require_extra("token", "verifying --token")
    import jwt

    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError(f"not a JWT: {exc}") from exc
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise TokenError(
            f"algorithm {header.get('alg')!r} is not allowed (allowed: {', '.join(ALLOWED_ALGORITHMS)})"
        )
    providers = _providers(config)
    provider = next((p for p in providers if p.get("issuerUrl") == unverified.get("iss")), None)
    if provider is None:
        issuers = ", ".join(str(p.get("issuerUrl")) for p in providers) or "none configured"
        raise TokenError(f"issuer {unverified.get('iss')!r} matches no auth.oauth provider ({issuers})")
    try:
        key = _key_for(token, header, key_file, provider)
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=ALLOWED_ALGORITHMS,
            audience=provider.get("audience"),
            issuer=provider.get("issuerUrl"),
            options={"require": ["exp", "iss"], "verify_nbf": True},
        )
    except OSError as exc:
        raise TokenError(f"cannot read key file {key_file}: {exc.strerror}") from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise TokenError(f"token rejected: {exc}") from exc
    return claims
