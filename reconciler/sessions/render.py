"""Text and JSON renderings of a SessionsReport. Both show counts, addresses and key names only."""

from __future__ import annotations

import json

from reconciler.findings import Finding, printable
from reconciler.sessions.report import PrefixSessions, RedisStatus, SessionsReport, TtlSummary

FORMATS = ("text", "json")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes = int(seconds // 60)
    return f"{minutes}m" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _redis_line(status: RedisStatus) -> str:
    head = f"Redis {status.address} db {status.db}"
    if status.endpoint != status.address:
        head += f" (dialled {status.endpoint})"
    if not status.reachable:
        return f"{head}: NOT USABLE: {status.error}"
    parts = [f"connect {status.connect_ms:.1f} ms"]
    if status.ping is not None:
        parts.append(
            f"ping median {status.ping.median_ms:.2f} ms, max {status.ping.max_ms:.2f} ms "
            f"({status.ping.samples} pings)"
        )
    if status.server_version:
        parts.append(f"Redis {status.server_version}")
    if status.maxmemory_policy:
        parts.append(f"maxmemory-policy {status.maxmemory_policy}")
    parts.append(f"password: {status.password_source}")
    return f"{head}: reachable, " + ", ".join(parts)


def _counted(items: dict[str, int]) -> str:
    return ", ".join(f"{name} x{count}" for name, count in items.items())


def _ttl_line(fmt: str, ttl: TtlSummary) -> str:
    buckets = ", ".join(f"{label} {count}" for label, count in ttl.buckets.items() if count)
    return (
        f"{fmt} TTL remaining (of {duration(ttl.configured_seconds)}): {buckets or 'none'}"
        + (f", no expiry {ttl.no_expiry}" if ttl.no_expiry else "")
        + f"; idle median {duration(ttl.idle_median_seconds)}, p90 {duration(ttl.idle_p90_seconds)}, "
        f"max {duration(ttl.idle_max_seconds)}"
    )


def _prefix_lines(group: PrefixSessions) -> list[str]:
    lines = [f"  {group.prefix!r}: {', '.join(group.servers)}"]
    pad = "    "
    if group.shared:
        lines.append(pad + "shared by several servers: counted once, their sessions cannot be told apart")
    if not group.scanned:
        lines.append(pad + f"not read: {group.error}")
        if not group.keys:
            return lines
    lines.append(
        pad + f"keys {group.keys}, sessions {group.sessions}, unparseable {group.unparseable}, "
        f"too large {group.oversized}, "
        f"vanished during the scan {group.vanished} ({group.scan_seconds:.2f} s"
        + (", stopped at --max-keys)" if group.truncated else ")")
    )
    proxy = group.proxy
    if proxy is not None:
        types = ", ".join(f"{t} {n}" for t, n in proxy.by_type.items()) or "none"
        stale = (
            f"stale {proxy.stale}" + (f" ({_counted(proxy.stale_hosts)})" if proxy.stale_hosts else "")
            if proxy.stale is not None
            else f"stale not checked ({proxy.stale_check})"
        )
        lines.append(
            pad + f"proxy sessions by type: {types}; unpinned {proxy.unpinned}, pinned {proxy.pinned}, "
            f"{stale}, other host {proxy.other_host}, no backend_url {proxy.no_backend}"
        )
    vmcp = group.vmcp
    if vmcp is not None:
        unknown = (
            f"naming unknown backends {vmcp.unknown_backend_sessions}"
            + (f" ({_counted(vmcp.unknown_backends)})" if vmcp.unknown_backends else "")
            if vmcp.unknown_backend_sessions is not None
            else f"backends not checked ({vmcp.backend_check})"
        )
        lines.append(
            pad + f"vMCP sessions: full {vmcp.full}, placeholders {vmcp.placeholders}, "
            f"terminated {vmcp.terminated}, legacy token-hash {vmcp.legacy}; {unknown}"
        )
    for fmt, ttl in group.ttl.items():
        lines.append(pad + _ttl_line(fmt, ttl))
    if group.unparseable_sample:
        lines.append(pad + "unparseable keys, e.g.: " + ", ".join(group.unparseable_sample))
    if group.oversized_sample:
        lines.append(pad + "values too large to read, e.g.: " + ", ".join(group.oversized_sample))
    return lines


def _finding_line(finding: Finding) -> str:
    place = f"{finding.path}:{finding.line}" if finding.path else "-"
    return f"  {finding.severity.value:<7} {finding.rule}  {place}  {finding.message}"


def render_text(report: SessionsReport) -> str:
    if not report.redis:
        return "No MCPServer or VirtualMCPServer keeps its sessions in Redis.\n"
    lines: list[str] = []
    for status in report.redis:
        lines.append(_redis_line(status))
        for group in report.prefixes:
            if group.address == status.address and group.db == status.db:
                lines.extend(_prefix_lines(group))
    lines.append(f"Cluster: {report.cluster}")
    if report.findings:
        lines.append("Findings:")
        lines.extend(_finding_line(f) for f in sorted(report.findings, key=Finding.sort_key))
    summary = report.to_json()["summary"]
    lines.append(
        f"{summary['servers']} server(s), {summary['sessions']} session(s); {summary['errors']} error(s), "
        f"{summary['warnings']} warning(s)"
    )
    return "\n".join(lines) + "\n"


def render_json(report: SessionsReport) -> str:
    return json.dumps(report.to_json(), indent=2) + "\n"


def render(report: SessionsReport, fmt: str) -> str:
    if fmt == "json":
        return render_json(report)
    # Addresses, prefixes and names come from the repository's manifests: no terminal escape gets through.
    return "\n".join(printable(line) for line in render_text(report).split("\n"))
