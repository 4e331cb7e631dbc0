"""`mcp-gitops drift`: compare the live targets with the repository, writing nothing.

The same reconcile stage as `plan`; what differs from Git is drift (someone changed it behind
mcp-gitops' back, or the last apply did not finish). Exit 0 none, 1 drift, 2 error.
"""

from __future__ import annotations

from typing import Any

import click

from reconciler.commands.common import (
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_OK,
    crd_options,
    repo_argument,
    rev_options,
    server_version_option,
)
from reconciler.commands.plan_apply import emit, finish, planned_against_live, target_options


@click.command()
@repo_argument
@rev_options
@target_options
@crd_options
@server_version_option
def drift(repo: str, rev: str | None, fmt: str, **opts: Any) -> None:
    """Compare the live targets with the repository without writing anything: rows changed through the
    registry server's API or lost in its restart, objects edited or deleted with kubectl.

    Exit 0 no drift, 1 drift, 2 error.
    """
    validation, reconciliation = planned_against_live(repo, rev, fmt, opts)
    reconciliation.add_drift_findings()
    emit(reconciliation, validation, fmt, repo, "plans", applied=False)
    if reconciliation.failed:
        finish(EXIT_ERROR)
    finish(EXIT_FINDINGS if any(reconciliation.drift().values()) else EXIT_OK)
