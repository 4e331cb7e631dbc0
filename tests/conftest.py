"""Test configuration. Each real service has its own harness plugin under tests/harness/.

Services are located through environment variables with local defaults (see README, Tests). When
`CI=true`, a service that cannot be reached fails the run instead of skipping: a test must be able to
fail.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.harness.services",
    "tests.harness.postgres",
    "tests.harness.redis",
    "tests.harness.upstream",  # before kube, which imports it
    "tests.harness.kube",
]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sample_repo() -> Path:
    return ROOT / "sample-repo"


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A writable copy of sample-repo, for tests that plant faults."""
    import shutil

    dest = tmp_path / "repo"
    shutil.copytree(ROOT / "sample-repo", dest)
    return dest


@pytest.fixture(autouse=True)
def _nothing_stays_frozen() -> Iterator[None]:
    """A daemon cycle freezes what is alive after it (reconciler/daemon/cycle.py, release_memory), and
    one-shot commands run in-process here leave the collector off (`validate`, `diff`); in this long
    test process either would keep every later test's garbage uncollected."""
    yield
    gc.unfreeze()
    gc.enable()
