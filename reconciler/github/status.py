"""The daemon's report back to GitHub: a commit status on the revision each cycle applied or refused
(success, or failure/error with the reason), so the commit shows whether it is in force."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from reconciler.daemon.status import ABORTED, APPLIED, FAILED, INVALID, UNCHANGED, CycleRecord
from reconciler.github.client import CommitState, GitHub, GitHubError

log = logging.getLogger("mcp_gitops.github")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_STATES: dict[str, CommitState] = {
    APPLIED: "success",
    UNCHANGED: "success",
    INVALID: "failure",
    FAILED: "error",
}


@dataclass(frozen=True)
class CommitStatusSettings:
    repository: str  # owner/name
    token_file: Path


class CommitStatusReporter:
    """Called after every cycle. A cycle that skipped an unchanged revision, was aborted (shutdown,
    lost leadership) or has no commit (a watched folder) sets nothing; a status GitHub refuses is
    logged, never a reason to fail the daemon."""

    def __init__(self, client: GitHub, repository: str, context: str = "mcp-gitops") -> None:
        self.client = client
        self.repository = repository
        self.context = context

    @classmethod
    def from_settings(cls, settings: CommitStatusSettings) -> CommitStatusReporter:
        """Raises OSError when the token file cannot be read."""
        return cls(GitHub(settings.token_file.read_text().strip()), settings.repository)

    def __call__(self, record: CycleRecord) -> None:
        state = _STATES.get(record.outcome)
        if record.skipped or record.outcome == ABORTED or state is None:
            return
        if record.revision is None or not _SHA.match(record.revision):
            return
        description = record.message or record.reason or record.outcome
        try:
            self.client.set_status(self.repository, record.revision, state, description, self.context)
        except GitHubError as exc:
            log.warning(f"commit status for {record.revision[:12]} not set: {exc}")
