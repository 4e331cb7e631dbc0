"""requirements.lock (scripts/lock) pins every runtime dependency of mcp-gitops[all] with hashes; the
image installs exactly it, and the test environment runs the same versions."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
RELOCK = "run scripts/lock after changing dependencies in pyproject.toml"


def locked() -> dict[str, Requirement]:
    """Name -> pinned requirement (with its marker) of every entry of the lock."""
    text = LOCK.read_text()
    entry = r"^([A-Za-z0-9][^\\\n]*?)\s*\\\n((?:\s+--hash=sha256:[0-9a-f]{64}\s*\\?\n?)+)"
    entries = re.findall(entry, text, re.M)
    pins: dict[str, Requirement] = {}
    for line, hashes in entries:
        requirement = Requirement(line)
        assert str(requirement.specifier).startswith("=="), line
        assert hashes.count("--hash=sha256:") >= 1, line
        pins[canonicalize_name(requirement.name)] = requirement
    # every requirement line was matched with its hashes
    assert len(pins) == len(re.findall(r"^[A-Za-z0-9]", text, re.M)), "an entry of the lock has no hash"
    return pins


def runtime_requirements() -> list[Requirement]:
    """The light install's dependencies plus those of every extra but `test` (self-references left out)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra, requirements in project["optional-dependencies"].items():
        if extra != "test":
            lines += requirements
    return [Requirement(line) for line in lines if canonicalize_name(Requirement(line).name) != "mcp-gitops"]


def test_the_lock_pins_every_runtime_dependency() -> None:
    pins = locked()
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock: {RELOCK}"
        pinned = str(pins[name].specifier).removeprefix("==")
        assert requirement.specifier.contains(pinned, prereleases=True), (
            f"requirements.lock pins {name}=={pinned}, outside {requirement}: {RELOCK}"
        )


def test_the_tests_run_the_locked_versions() -> None:
    environment = default_environment()
    differ = []
    for name, requirement in locked().items():
        if requirement.marker is not None and not requirement.marker.evaluate(dict(environment)):
            continue
        pinned = str(requirement.specifier).removeprefix("==")
        try:
            installed = version(name)
        except PackageNotFoundError:
            differ.append(f"{name}: not installed (locked {pinned})")
            continue
        if installed != pinned:
            differ.append(f"{name}: installed {installed}, locked {pinned}")
    assert not differ, "the tests do not run the locked versions (scripts/dev-install): " + "; ".join(differ)
