"""Waivers: one rule for one object, with a reason and an optional expiry."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

from reconciler.pipeline import validate
from reconciler.source import FolderSource
from tests.builders import CONFIG, entry, mcpserver, write_repo

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
    # a managed source without claims, so that the claims-less entry survives a restart unchanged
    config = copy.deepcopy(CONFIG)
    del config["sources"][0]["claims"]
    root = write_repo(
        tmp_path,
        config=config,
        settings=settings,
        entries={"a.json": entry("io.github.acme/open", claims=None)},
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


def _settings_waiver(rule: str, **target: str) -> dict[str, object]:
    return {"waivers": [{"rule": rule, "target": target, "reason": "because"}]}


def _problems(root: Path) -> list[tuple[str, str, int, str]]:
    return sorted(
        (f.rule, f.path, f.line, f.message) for f in report(root).findings if f.rule.startswith("waiver-")
    )


def test_a_waiver_of_an_unknown_rule_is_an_error_with_the_close_match(tmp_path: Path) -> None:
    root = write_repo(
        tmp_path,
        settings=_settings_waiver("claims-requird", path="entries/a.json"),
        entries={"a.json": entry(claims=None)},
    )
    (problem,) = _problems(root)
    assert problem[:3] == ("waiver-invalid", "mcp-gitops.yaml", 3)
    assert "unknown rule 'claims-requird'; did you mean 'claims-required'?" in problem[3]
    assert report(root).fails()


def test_a_waiver_whose_target_matches_nothing_is_an_error(tmp_path: Path) -> None:
    for index, target in enumerate(({"path": "entries/gone.json"}, {"entry": "io.github.acme/gone"})):
        root = write_repo(
            tmp_path / str(index),
            settings=_settings_waiver("claims-required", **target),
            entries={"a.json": entry(claims=None)},
        )
        (problem,) = _problems(root)
        assert problem[0] == "waiver-invalid" and "matches nothing in the repository" in problem[3]


def test_a_waiver_that_excuses_no_finding_is_an_error(tmp_path: Path) -> None:
    root = write_repo(
        tmp_path / "settings",
        settings=_settings_waiver("claims-required", path="entries/a.json"),
        entries={"a.json": entry()},  # has claims: nothing to excuse
    )
    (problem,) = _problems(root)
    assert problem[:3] == ("waiver-unused", "mcp-gitops.yaml", 3)
    assert "claims-required for entries/a.json excuses no finding" in problem[3]

    server = mcpserver("a", replicas=1)  # one replica: no session-storage finding
    server["metadata"]["annotations"] = {ANNOTATION: "was scaled once"}
    (problem,) = _problems(write_repo(tmp_path / "annotation", manifests={"a.json": server}))
    assert problem[0] == "waiver-unused" and problem[1] == "manifests/a.json"


def test_an_entry_waiver_is_used_when_any_of_its_versions_needs_it(tmp_path: Path) -> None:
    # a waiver of a token rule is not unused when the run has no token to judge it
    settings = {
        "waivers": [
            {"rule": "claims-required", "target": {"entry": "io.github.acme/open"}, "reason": "public"},
            {"rule": "claims-not-covered", "target": {"entry": "io.github.acme/open"}, "reason": "public"},
        ]
    }
    root = write_repo(
        tmp_path,
        settings=settings,
        entries={
            "v1.json": entry("io.github.acme/open", "1.0.0", claims=None),
            "v2.json": entry("io.github.acme/open", "2.0.0", claims=None),
        },
    )
    assert _problems(root) == []
