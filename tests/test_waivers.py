"""Waivers: one rule for one object, with a reason and an optional expiry."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from reconciler.pipeline import validate
from reconciler.source import FolderSource
from tests.builders import entry, mcpserver, write_repo

ANNOTATION = "waive.mcp-gitops.dev/session-storage-missing"


def report(root: Path):  # type: ignore[no-untyped-def]
    return validate(FolderSource(root)).report


def test_annotation_waives_one_rule_on_one_manifest(tmp_path: Path) -> None:
    waived = mcpserver("a", replicas=2)
    waived["metadata"]["annotations"] = {ANNOTATION: "single-tenant, sessions are stateless"}
    root = write_repo(tmp_path, manifests={"a.json": waived, "b.json": mcpserver("b", replicas=2)})
    findings = [f for f in report(root).findings if f.rule == "session-storage-missing"]
    assert {(f.path, f.waived) for f in findings} == {
        ("manifests/a.json", "single-tenant, sessions are stateless"),
        ("manifests/b.json", None),
    }
    assert report(root).counts()["waived"] >= 1


def test_expired_annotation_is_an_error_and_waives_nothing(tmp_path: Path) -> None:
    server = mcpserver("a", replicas=2)
    server["metadata"]["annotations"] = {ANNOTATION: "temporary; expires=2020-01-01"}
    rep = report(write_repo(tmp_path, manifests={"a.json": server}))
    rules = {(f.rule, f.waived) for f in rep.findings}
    assert ("waiver-expired", None) in rules and ("session-storage-missing", None) in rules


def test_waiver_needs_a_reason(tmp_path: Path) -> None:
    server = mcpserver("a", replicas=2)
    server["metadata"]["annotations"] = {ANNOTATION: ""}
    rep = report(write_repo(tmp_path, manifests={"a.json": server}))
    assert "waiver-invalid" in {f.rule for f in rep.findings}


def test_settings_waiver_for_an_entry(tmp_path: Path) -> None:
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    settings = {
        "waivers": [
            {
                "rule": "claims-required",
                "target": {"entry": "io.github.acme/open"},
                "reason": "public catalogue entry",
                "expires": future,
            }
        ]
    }
    root = write_repo(
        tmp_path, settings=settings, entries={"a.json": entry("io.github.acme/open", claims=None)}
    )
    rep = report(root)
    (finding,) = [f for f in rep.findings if f.rule == "claims-required"]
    assert finding.waived == "public catalogue entry"
    assert not rep.fails()


def test_expired_settings_waiver(tmp_path: Path) -> None:
    settings = {
        "waivers": [
            {
                "rule": "claims-required",
                "target": {"path": "entries/a.json"},
                "reason": "was temporary",
                "expires": "2020-01-01",
            }
        ]
    }
    root = write_repo(tmp_path, settings=settings, entries={"a.json": entry(claims=None)})
    assert {"waiver-expired", "claims-required"} <= {f.rule for f in report(root).active()}
