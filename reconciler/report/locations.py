"""Where a finding's file is, as the CI systems that read our reports expect it.

Findings carry paths relative to the validated repository root. GitHub resolves annotation files, SARIF
URIs and blob links against the checkout root instead, and those differ when the config repository is
a subfolder (`mcp-gitops validate config/`): `registry.yaml` must become `config/registry.yaml` there,
or the annotation lands on a file that does not exist.

`validate` and `diff` set the root with `checkout_root` ("" at the top, "config" for a subfolder), so
the prefix is a pure function of the context, whatever the working directory or environment. Every
format uses it, text and JSON too: one root for all paths.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from reconciler.report import ReportContext


def checkout_root(repo: str) -> str:
    """The repository folder relative to the enclosing Git work tree ("" at its top or outside Git)."""
    here = Path(repo).resolve()
    for parent in (here, *here.parents):
        if (parent / ".git").exists():
            relative = here.relative_to(parent).as_posix()
            return "" if relative == "." else relative
    return ""


def checkout_prefix(context: ReportContext) -> str:
    """The validated root as a path prefix inside the checkout: "" or e.g. "config/"."""
    return root_prefix(context.root)


def root_prefix(root: str) -> str:
    """A checkout root as a path prefix: "" or e.g. "config/"."""
    root = PurePosixPath(root.replace("\\", "/")).as_posix()
    # An absolute root or one climbing out ("..") is not inside a checkout: keep paths root-relative.
    if root in ("", ".") or root.startswith(("/", "../")) or root == "..":
        return ""
    return root.rstrip("/") + "/"
