"""Pull-request mode: the head revision compared with its base, both read from Git objects, with a
verified token."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reconciler.pipeline import validate
from reconciler.source import GitSource
from tests.builders import AUDIENCE, ISSUER, entry, git, write_repo


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path_factory.mktemp("keys") / "key.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return {"key": key, "pem": str(pem)}


def token(signer: dict[str, Any], **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ci", "exp": now + 600, **claims}
    return jwt.encode(body, signer["key"], algorithm="RS256")


@pytest.fixture
def history(tmp_path: Path) -> dict[str, Any]:
    """Base commit, then a head commit that widens one entry's claims, narrows another's, leaves a
    third unchanged and renames the file of a fourth."""
    root = tmp_path / "repo"
    base_entries = {
        "widened.json": entry("io.github.acme/widened", claims={"org": "acme"}),
        "narrowed.json": entry("io.github.acme/narrowed", claims={"org": "acme", "team": ["secret"]}),
        "unchanged.json": entry("io.github.acme/unchanged", claims={"org": "other"}),
        "old-name.json": entry("io.github.acme/renamed", claims={"org": "other"}),
    }
    write_repo(root, entries=base_entries)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    base = git(root, "rev-parse", "HEAD")
    entries = root / "entries"
    (entries / "widened.json").write_text(
        json.dumps(entry("io.github.acme/widened", claims={"org": "acme", "team": ["secret"]}))
    )
    (entries / "narrowed.json").write_text(
        json.dumps(entry("io.github.acme/narrowed", claims={"org": "acme"}))
    )
    git(root, "mv", "entries/old-name.json", "entries/new-name.json")
    git(root, "commit", "-qam", "head")
    return {"root": root, "base": base, "head": git(root, "rev-parse", "HEAD")}


def findings(history: dict[str, Any], tok: str, key_file: str) -> dict[str, set[str]]:
    result = validate(
        GitSource(history["root"], history["head"]),
        base=GitSource(history["root"], history["base"]),
        token=tok,
        key_file=key_file,
    )
    out: dict[str, set[str]] = {}
    for f in result.report.findings:
        out.setdefault(f.rule, set()).add(f.path)
    return out


def test_token_must_cover_new_and_old_claims(history: dict[str, Any], signer: dict[str, Any]) -> None:
    found = findings(history, token(signer, org="acme"), signer["pem"])
    # widened: the new claims include team=secret, which the token lacks
    assert found.get("claims-not-covered") == {"entries/widened.json"}
    # narrowed: the new claims are covered, the old ones (team=secret) are not
    assert found.get("claims-change-not-covered") == {"entries/narrowed.json"}
    # unchanged and renamed entries are not new: their claims (org=other) are not judged again
    assert "coverage-not-judged" not in found


def test_a_covering_token_passes(history: dict[str, Any], signer: dict[str, Any]) -> None:
    found = findings(history, token(signer, org="acme", team=["secret", "x"]), signer["pem"])
    assert "claims-not-covered" not in found and "claims-change-not-covered" not in found


def test_super_admin_bypasses_coverage(history: dict[str, Any], signer: dict[str, Any]) -> None:
    found = findings(history, token(signer, role="super-admin"), signer["pem"])
    assert "claims-not-covered" not in found and "claims-change-not-covered" not in found


def test_head_and_base_are_read_from_git_not_the_work_tree(
    history: dict[str, Any], signer: dict[str, Any]
) -> None:
    # A dirty work tree must not leak into a revision-based validation.
    (history["root"] / "entries" / "widened.json").write_text("{ broken")
    found = findings(history, token(signer, org="acme"), signer["pem"])
    assert "yaml-syntax" not in found
