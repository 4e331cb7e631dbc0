"""`mcp-gitops status`: what a running daemon last applied and attempted, per target, with findings."""

from __future__ import annotations

import json
from typing import Any

import click

from reconciler.commands.common import EXIT_FINDINGS, EXIT_OK, fail
from reconciler.commands.daemon_http import call, url_option
from reconciler.report.summary import plural

# Findings listed in text before "... and N more"
SHOWN_FINDINGS = 20


def _revision(value: Any) -> str:
    return str(value)[:12] if value else "none"


def render_text(status: dict[str, Any]) -> str:
    lines = [
        f"source:         {status.get('source')} ({status.get('role')})",
        f"last applied:   {_revision(status.get('lastAppliedRevision'))}",
        f"last attempted: {_revision(status.get('lastAttemptedRevision'))}",
    ]
    ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    outcome = status.get("lastOutcome") or "no cycle yet"
    detail = ": ".join(x for x in (ready.get("reason"), ready.get("message")) if x)
    lines.append(f"last outcome:   {outcome}{f' ({detail})' if detail else ''}")
    history = status.get("history") or []
    last_targets = (history[0].get("targets") if history else None) or {}
    for target, reachable in sorted((status.get("targets") or {}).items()):
        state = last_targets.get(target)
        shown = json.dumps(state, sort_keys=True) if isinstance(state, dict | list) else state
        lines.append(f"target {target}: {reachable}" + (f"; last cycle: {shown}" if shown else ""))
    findings = status.get("findings") or {}
    summary = findings.get("summary") or {}
    if summary:
        counts = ", ".join(
            plural(summary.get(key, 0), noun)
            for key, noun in (("errors", "error"), ("warnings", "warning"), ("infos", "info"))
        )
        lines.append(f"findings at {_revision(findings.get('revision'))}: {counts}")
        listed = findings.get("findings") or []
        for f in listed[:SHOWN_FINDINGS]:
            lines.append(
                f"  {f['path']}:{f['line']}:{f['column']}: {f['severity']} {f['rule']}: {f['message']}"
            )
        if len(listed) > SHOWN_FINDINGS:
            lines.append(f"  ... and {len(listed) - SHOWN_FINDINGS} more (-o json lists them all)")
    return "\n".join(lines) + "\n"


@click.command()
@url_option
@click.option(
    "-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", help="Output format."
)
def status(url: str, fmt: str) -> None:
    """Show a running daemon's status (its /status endpoint): the last applied and attempted revisions,
    the last outcome and why, each target's state, and the findings.

    Exit 0 when the last cycle applied its revision (or had nothing to do), 1 when it did not, 2 when
    the daemon cannot be reached."""
    code, body = call(url, "GET", "/status")
    if code != 200 or not isinstance(body, dict):
        fail(f"{url}/status answered {code}")
    click.echo(json.dumps(body, indent=2) if fmt == "json" else render_text(body), nl=fmt != "text")
    healthy = body.get("lastOutcome") in ("applied", "unchanged")
    click.get_current_context().exit(EXIT_OK if healthy else EXIT_FINDINGS)
