"""What every service harness shares: the rule for an unreachable service."""

from __future__ import annotations

import os

import pytest

# How to provide each service: the variable that locates it, and the sentence appended to its skip or
# failure line unless the reason names that variable already (scripts/envtest-assets says how itself).
HOW_TO_PROVIDE = {
    "kube-apiserver": (
        "KUBEBUILDER_ASSETS",
        "set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd, or MCP_GITOPS_TEST_KUBECONFIG "
        "to a cluster, or run scripts/envtest-assets (MCP_GITOPS_BUILD_KUBE_APISERVER=1 builds one)",
    ),
    "PostgreSQL": (
        "MCP_GITOPS_TEST_DATABASE_URL",
        "set MCP_GITOPS_TEST_DATABASE_URL, or start PostgreSQL on 127.0.0.1:5432",
    ),
    "Redis": ("MCP_GITOPS_TEST_REDIS_URL", "set MCP_GITOPS_TEST_REDIS_URL, or put redis-server on PATH"),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def one_line(text: str, limit: int = 400) -> str:
    """A reason as one line: a tool's multi-line stderr would bury the summary."""
    flat = " | ".join(line.strip() for line in text.splitlines() if line.strip())
    return flat if len(flat) <= limit else "..." + flat[-limit:]


def unavailable(service: str, why: str) -> None:
    """Skip locally; fail loudly under CI=true, where every service must be there."""
    message = f"{service} is not available: {one_line(why)}"
    if service in HOW_TO_PROVIDE:
        variable, how = HOW_TO_PROVIDE[service]
        if variable not in why:
            message += f" (to provide it: {how})"
    if in_ci():
        pytest.fail(message + " (CI=true: a missing service fails the run)", pytrace=False)
    pytest.skip(message)
