"""Waivers: a documented exception to one rule for one object, with a mandatory reason and an optional
expiry. Manifests carry them as annotations, `waive.mcp-gitops.dev/<rule>: "<reason>[; expires=DATE]"`;
entries and the registry config through the settings file's `waivers:` list.

A waived finding is still reported (marked waived, counted apart); an expired waiver is an error and
no longer waives anything. A waiver that names an unknown rule, or whose target matches no file or
entry, is a `waiver-invalid` error; one that excuses no finding is a `waiver-unused` error (a stale
waiver would silently excuse the next problem of its kind), unless its rule could not be judged in
this run (no token).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass

from reconciler.findings import Finding, Severity
from reconciler.repository import Repository
from reconciler.settings import SETTINGS_FILE

ANNOTATION_PREFIX = "waive.mcp-gitops.dev/"
_EXPIRES = re.compile(r"^(?P<reason>.*?)\s*;\s*expires=(?P<date>\S+)\s*$")


@dataclass(frozen=True)
class Waiver:
    rule: str
    path: str  # the file the waiver covers
    reason: str
    expires: dt.date | None
    # where the waiver itself is written, for the expiry finding
    origin_path: str
    origin_line: int
    origin_column: int


def _annotation_waivers(repo: Repository) -> tuple[list[Waiver], list[Finding]]:
    waivers, problems = [], []
    for doc in repo.manifests:
        meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
        annotations = meta.get("annotations") if isinstance(meta, dict) else None
        if not isinstance(annotations, dict):
            continue
        for key, value in annotations.items():
            if not isinstance(key, str) or not key.startswith(ANNOTATION_PREFIX):
                continue
            line, column = doc.locate(("metadata", "annotations", key), key=True)
            rule = key[len(ANNOTATION_PREFIX) :]
            text = value if isinstance(value, str) else ""
            match = _EXPIRES.match(text)
            reason, expires = (match.group("reason"), match.group("date")) if match else (text.strip(), None)
            try:
                date = dt.date.fromisoformat(expires) if expires else None
                problem = None if reason else f"waiver for {rule} has no reason; a waiver must say why"
            except ValueError:
                problem = f"waiver for {rule}: expires={expires} is not a date (YYYY-MM-DD)"
            if problem is not None:
                problems.append(Finding("waiver-invalid", Severity.ERROR, doc.path, line, column, problem))
                continue
            waivers.append(Waiver(rule, doc.path, reason, date, doc.path, line, column))
    return waivers, problems


def _entry_paths(repo: Repository) -> dict[str, list[str]]:
    """The files of each entry, by `name` and by `name@version`."""
    entry_paths: dict[str, list[str]] = {}
    for doc in repo.entries:
        server = doc.data.get("server") if isinstance(doc.data, dict) else None
        if isinstance(server, dict):
            name, version = server.get("name"), server.get("version")
            entry_paths.setdefault(f"{name}", []).append(doc.path)
            entry_paths.setdefault(f"{name}@{version}", []).append(doc.path)
    return entry_paths


def _settings_waivers(repo: Repository) -> tuple[list[Waiver], list[Finding]]:
    waivers, problems = [], []
    # Only when a waiver names an entry: two keys for every entry cost 0.1 s at 10,000 entries.
    named = any(waiver.target.entry for waiver in repo.settings.waivers)
    entry_paths = _entry_paths(repo) if named else {}
    config_path = repo.config.path if repo.config is not None else repo.settings.registryConfig
    settings = repo.settings_document
    for index, waiver in enumerate(repo.settings.waivers):
        line, column = settings.locate(("waivers", index)) if settings is not None else (0, 0)
        target = waiver.target
        chosen = [t for t in (target.path, target.entry, target.registryConfig or None) if t]
        if len(chosen) != 1:
            problems.append(
                Finding(
                    "waiver-invalid",
                    Severity.ERROR,
                    SETTINGS_FILE,
                    line,
                    column,
                    f"waivers[{index}]: target needs exactly one of path, entry, registryConfig",
                )
            )
            continue
        if target.path:
            paths = [target.path] if repo.source.exists(target.path) else []
        elif target.entry:
            paths = entry_paths.get(target.entry, [])
        else:
            paths = [config_path]
        if not paths:
            what = f"path {target.path}" if target.path else f"entry {target.entry}"
            problems.append(
                Finding(
                    "waiver-invalid",
                    Severity.ERROR,
                    SETTINGS_FILE,
                    line,
                    column,
                    f"waivers[{index}]: the {what} matches nothing in the repository",
                )
            )
            continue
        for path in paths:
            waivers.append(
                Waiver(waiver.rule, path, waiver.reason, waiver.expires, SETTINGS_FILE, line, column)
            )
    return waivers, problems


def apply_waivers(
    repo: Repository,
    findings: list[Finding],
    known_rules: Collection[str] | None = None,
    unjudged: Collection[str] = (),
    today: dt.date | None = None,
) -> list[Finding]:
    """Mark the findings that a live waiver covers; add findings for expired, malformed, unknown and
    unused waivers. `known_rules` is every rule of the run (None: not checked); `unjudged` the rules
    this run could not judge, whose waivers are not unused for that."""
    today = today or dt.date.today()
    annotation, problems_a = _annotation_waivers(repo)
    configured, problems_s = _settings_waivers(repo)
    live: dict[tuple[str, str], Waiver] = {}
    out = problems_a + problems_s
    for waiver in annotation + configured:
        if known_rules is not None and waiver.rule not in known_rules:
            close = difflib.get_close_matches(waiver.rule, list(known_rules), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            out.append(
                _problem("waiver-invalid", waiver, f"the waiver names an unknown rule '{waiver.rule}'{hint}")
            )
            continue
        if waiver.expires is not None and waiver.expires < today:
            expired = f"the waiver of {waiver.rule} for {waiver.path} expired on {waiver.expires.isoformat()}"
            out.append(_problem("waiver-expired", waiver, expired))
            continue
        live[(waiver.rule, waiver.path)] = waiver
    used: set[tuple[str, int, int, str]] = set()
    for finding in findings:
        covering = live.get((finding.rule, finding.path))
        # Waiving a waiver problem would let a waiver excuse itself.
        if covering is not None and not finding.rule.startswith("waiver-"):
            finding = finding.waive(covering.reason)
            used.add(_origin(covering))
        out.append(finding)
    if known_rules is not None:
        # One settings waiver of an entry covers each of its files: it is used when any of them is.
        unused = {_origin(w): w for w in live.values() if _origin(w) not in used and w.rule not in unjudged}
        for waiver in unused.values():
            target = waiver.path if waiver.origin_path != waiver.path else "this object"
            message = f"the waiver of {waiver.rule} for {target} excuses no finding: delete it"
            out.append(_problem("waiver-unused", waiver, message))
    return out


def _origin(waiver: Waiver) -> tuple[str, int, int, str]:
    return (waiver.origin_path, waiver.origin_line, waiver.origin_column, waiver.rule)


def _problem(rule: str, waiver: Waiver, message: str) -> Finding:
    return Finding(
        rule, Severity.ERROR, waiver.origin_path, waiver.origin_line, waiver.origin_column, message
    )
