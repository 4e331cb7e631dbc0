"""What every service harness shares: the rule for an unreachable service."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(service: str, why: str) -> None:
    """Skip locally; fail loudly under CI=true, where every service must be there."""
    message = f"{service} is not available: {why}"
    if in_ci():
        pytest.fail(message + " (CI=true: a missing service fails the run)", pytrace=False)
    pytest.skip(message)
