"""Harness plugin: the upstream artefacts the tests check against, in `<repo root>/../shared/upstream/`.

The ToolHive operator's CRDs (v0.44.0) are given to every run through $MCP_GITOPS_CRDS, as a platform
team would give theirs, so the whole suite validates manifests against the real CRDs. The product never
embeds them. Missing: tests that need them skip locally and fail under CI=true.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = ROOT.parent / "shared" / "upstream"
TOOLHIVE_CRDS = UPSTREAM / "toolhive-v0.44.0" / "crds"


@pytest.fixture(scope="session", autouse=True)
def _crds_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every run in the suite reads the upstream CRDs, and caches downloads in a private folder."""
    saved = {name: os.environ.get(name) for name in ("MCP_GITOPS_CRDS", "MCP_GITOPS_CACHE_DIR")}
    if TOOLHIVE_CRDS.is_dir():
        os.environ["MCP_GITOPS_CRDS"] = str(TOOLHIVE_CRDS)
    os.environ["MCP_GITOPS_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def toolhive_crds() -> Path:
    """The folder of the 14 ToolHive v0.44.0 CRD files."""
    if not TOOLHIVE_CRDS.is_dir():
        unavailable("the upstream ToolHive CRDs", f"{TOOLHIVE_CRDS} is missing")
    return TOOLHIVE_CRDS
