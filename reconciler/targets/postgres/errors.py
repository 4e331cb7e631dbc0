"""Errors of the registry target. Every one is a tool error (exit 2) with a message for a person."""

from __future__ import annotations

from reconciler.targets import TargetError


class DesiredStateError(TargetError):
    """The repository cannot be turned into registry rows (e.g. claims differ between versions)."""


class SchemaStateError(TargetError):
    """The database holds something other than an empty database or the targeted release's registry schema."""


class LiveStateError(TargetError):
    """The database's live state forbids applying (second managed source, a name we do not own)."""


class OwnerConflictError(LiveStateError):
    """An apply wrote everything but rows another repository (or the registry server's API) owns; what
    it wrote is its `partial` result."""


class ConnectionConfigError(TargetError):
    """The target database is named in a way we refuse (e.g. a URL embedding a password)."""


class ApplyError(TargetError):
    """Apply failed; the transaction was rolled back."""
