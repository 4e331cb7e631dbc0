"""Token verification: every way a token can be wrong is rejected with a reason (exit 2)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reconciler.policy.token import TokenError, read_token, verify_token

ISSUER, AUDIENCE = "https://idp.example.com", "api://registry"
CONFIG = {"auth": {"oauth": {"providers": [{"name": "idp", "issuerUrl": ISSUER, "audience": AUDIENCE}]}}}


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = good.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {"good": good, "other": other, "public_pem": pem}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "ci",
        "org": "acme",
        "exp": now + 600,
        "nbf": now - 10,
        **overrides,
    }


def key_file(tmp_path: Path, keys: dict[str, Any], kind: str = "pem") -> str:
    path = tmp_path / f"key.{kind}"
    if kind == "pem":
        path.write_bytes(keys["public_pem"])
    else:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys["good"].public_key()))
        jwk["kid"] = "k1"
        path.write_text(json.dumps({"keys": [jwk]}))
    return str(path)


def test_valid_token_with_pem_and_jwks(tmp_path: Path, keys: dict[str, Any]) -> None:
    token = jwt.encode(claims(), keys["good"], algorithm="RS256", headers={"kid": "k1"})
    assert verify_token(token, CONFIG, key_file(tmp_path, keys))["org"] == "acme"
    assert verify_token(token, CONFIG, key_file(tmp_path, keys, "jwks"))["sub"] == "ci"


def forged_none() -> str:
    import base64

    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."


def b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_hs256(public_pem: bytes) -> str:
    """HS256 "signed" with the RSA public key as the HMAC secret (PyJWT refuses to build one)."""
    import hashlib
    import hmac

    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims()).encode())}"
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda k: forged_none(), "not allowed"),
        (lambda k: jwt.encode(claims(), k["other"], algorithm="RS256"), "Signature verification failed"),
        (lambda k: jwt.encode(claims(exp=int(time.time()) - 60), k["good"], algorithm="RS256"), "expired"),
        (lambda k: jwt.encode(claims(aud="api://other"), k["good"], algorithm="RS256"), "(?i)audience"),
        (
            lambda k: jwt.encode(claims(nbf=int(time.time()) + 600), k["good"], algorithm="RS256"),
            "not yet valid",
        ),
        (
            lambda k: jwt.encode(claims(iss="https://evil.example.com"), k["good"], algorithm="RS256"),
            "issuer",
        ),
        # the HMAC/RSA confusion: HS256 "signed" with the public key as the secret
        (lambda k: forged_hs256(k["public_pem"]), "not allowed"),
        (lambda k: "not-a-jwt", "not a JWT"),
    ],
    ids=[
        "alg-none",
        "wrong-key",
        "expired",
        "wrong-audience",
        "not-yet-valid",
        "unknown-issuer",
        "hs256-with-public-key",
        "garbage",
    ],
)
def test_bad_tokens_are_rejected(tmp_path: Path, keys: dict[str, Any], make: Any, reason: str) -> None:
    token = make(keys)
    with pytest.raises(TokenError, match=reason):
        verify_token(token, CONFIG, key_file(tmp_path, keys))


def test_no_key_available_is_an_error(keys: dict[str, Any]) -> None:
    token = jwt.encode(claims(), keys["good"], algorithm="RS256")
    with pytest.raises(TokenError, match="no key"):
        verify_token(token, CONFIG)


def test_read_token_from_file(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("abc\n")
    assert read_token(f"@{tmp_path / 't'}") == "abc"
    with pytest.raises(TokenError):
        read_token("@/nonexistent/t")
