"""The container image as a user runs it, with podman: help, a non-root user, `validate` on a mounted
repository owned by another uid, the daemon answering /healthz through the image's HEALTHCHECK,
SIGTERM ending it cleanly, no apt cache left, exactly the locked dependencies installed, and every
module a command imports loaded from bytecode compiled at build time.

Opt-in (marker `image`, deselected by default): `scripts/build-image --test` builds the image and runs
this file with MCP_GITOPS_IMAGE naming it and podman's settings in CONTAINERS_CONF /
CONTAINERS_STORAGE_CONF. Asked for without an image, the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.harness.services import unavailable

pytestmark = pytest.mark.image

ROOT = Path(__file__).resolve().parent.parent
# Installed in the image besides the lock: the project itself and the venv's own tools.
NOT_LOCKED = {"mcp-gitops", "pip", "setuptools", "wheel"}


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


@pytest.fixture(scope="module")
def image() -> str:
    name = os.environ.get("MCP_GITOPS_IMAGE")
    if not name:
        unavailable("container image", "MCP_GITOPS_IMAGE is not set (scripts/build-image --test sets it)")
    assert name is not None
    if shutil.which("podman") is None:
        unavailable("container image", "podman is not installed (scripts/build-image --install-tools)")
    if podman("image", "exists", name, check=False).returncode != 0:
        unavailable("container image", f"{name} is not in podman's storage (see CONTAINERS_STORAGE_CONF)")
    return name


@pytest.fixture
def mounted_repo(tmp_path: Path, sample_repo: Path) -> Path:
    """sample-repo as a Git repository owned by this (host) user, readable by the image's uid 10001:
    git refuses such a repository unless the image trusts it (safe.directory)."""
    repo = tmp_path / "repo"
    shutil.copytree(sample_repo, repo)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "sample"], check=True)
    subprocess.run(["chmod", "-R", "a+rX", str(repo)], check=True)
    assert repo.stat().st_uid != 10001
    return repo


def test_help_and_version(image: str) -> None:
    done = podman("run", "--rm", image)
    assert "Usage: mcp-gitops run" in done.stdout
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = podman("run", "--rm", "--entrypoint", "mcp-gitops", image, "--version")
    assert done.stdout.strip() == f"mcp-gitops, version {version}"


def test_runs_as_a_non_root_user(image: str) -> None:
    assert podman("run", "--rm", "--entrypoint", "id", image, "-u").stdout.strip() == "10001"


def test_validates_a_mounted_repository(image: str, mounted_repo: Path, toolhive_crds: Path) -> None:
    # The operator's CRDs mounted beside the repository, as a platform team gives its own.
    crds = ["--volume", f"{toolhive_crds}:/crds:ro"]
    for rev in ([], ["--rev", "HEAD"]):  # the working tree, and Git objects read with git
        done = podman(
            "run", "--rm", "--volume", f"{mounted_repo}:/repo:ro", *crds, "--entrypoint", "mcp-gitops", image,
            "validate", "/repo", "--crds", "/crds", *rev, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 errors, 0 warnings" in done.stdout
        assert "dubious ownership" not in done.stderr


def test_no_apt_lists_or_cache_left(image: str) -> None:
    done = podman(
        "run", "--rm", "--entrypoint", "find", image, "/var/cache/apt", "/var/lib/apt/lists", "-type", "f",
        check=False,
    )  # fmt: skip
    assert done.stdout.strip() == ""


def test_installs_exactly_the_lock(image: str) -> None:
    listed = podman("run", "--rm", "--entrypoint", "pip", image, "list", "--format", "json").stdout
    installed = {canonicalize_name(item["name"]): item["version"] for item in json.loads(listed)}
    lock = (ROOT / "requirements.lock").read_text()
    locked = {}
    for line in lock.splitlines():
        if line[:1].isalnum():
            requirement = Requirement(line.rstrip(" \\"))
            locked[canonicalize_name(requirement.name)] = (requirement, str(requirement.specifier)[2:])
    for name, version in installed.items():
        if name not in NOT_LOCKED:
            assert name in locked and locked[name][1] == version, f"{name}=={version} is not the locked one"
    for name, (requirement, version) in locked.items():
        if requirement.marker is None:
            assert installed.get(name) == version, f"{name}=={version} is locked but not installed"


# Every module these import must load from bytecode compiled at build time: the image runs with
# PYTHONDONTWRITEBYTECODE, so a missing .pyc is compiled again by every command that starts.
_UNCOMPILED = """
import os, sys
from importlib.machinery import SourceFileLoader
import reconciler.cli, reconciler.pipeline, reconciler.commands.run, reconciler.targets.postgres.target
import reconciler.targets.cluster.applier
print("\\n".join(sorted(
    name for name, module in list(sys.modules.items())
    if isinstance(getattr(getattr(module, "__spec__", None), "loader", None), SourceFileLoader)
    and not os.path.exists(module.__spec__.cached or "")
)))
"""


def test_starts_from_bytecode(image: str) -> None:
    done = podman("run", "--rm", "--entrypoint", "python", image, "-c", _UNCOMPILED)
    assert done.stdout.strip() == "", f"imported without a .pyc: {done.stdout.split()}"


@pytest.fixture
def daemon(image: str, mounted_repo: Path) -> Iterator[str]:
    name = f"mcp-gitops-test-{uuid.uuid4().hex[:8]}"
    podman(
        "run", "--detach", "--name", name, "--volume", f"{mounted_repo}:/repo:ro", image,
        "/repo", "--target", "cluster", "--listen", ":8080", "--interval", "1h", "--leader-election", "none",
    )  # fmt: skip
    try:
        yield name
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)


def test_daemon_is_healthy_and_stops_on_sigterm(daemon: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        check = podman("healthcheck", "run", daemon, check=False)
        if check.returncode == 0:
            break
        assert "no defined healthcheck" not in check.stderr + check.stdout, "the image lost its HEALTHCHECK"
        assert time.monotonic() < deadline, (
            f"never healthy: {check.stdout}{check.stderr}\n"
            + podman("logs", daemon, check=False).stderr[-3000:]
        )
        time.sleep(1)
    started = time.monotonic()
    podman("stop", "--time", "30", daemon)  # SIGTERM, then SIGKILL after 30 s
    assert time.monotonic() - started < 28, "the daemon did not stop on SIGTERM"
    state = podman("inspect", "--format", "{{.State.ExitCode}}", daemon).stdout.strip()
    assert state == "0", podman("logs", daemon, check=False).stderr[-3000:]
