"""Where a finding's file is, as the CI systems that read our reports expect it.

Findings carry paths relative to the validated repository root. GitHub resolves annotation files, SARIF
URIs and blob links against the checkout root instead, and those differ when the config repository is
a subfolder (`mcp-gitops validate config/`): `registry.yaml` must become `config/registry.yaml` there,
or the annotation lands on a file that does not exist.

`validate` sets `ReportContext.root` to the validated folder relative to the enclosing Git work tree
("" at the top, "config" for a subfolder; see `reconciler/commands/validate.py`), so the prefix is a
pure function of the context, whatever the working directory or environment.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from reconciler.report import ReportContext


def checkout_prefix(context: ReportContext) -> str:
    """The validated root as a path prefix inside the checkout: "" or e.g. "config/"."""
    root = PurePosixPath(context.root.replace("\\", "/")).as_posix()
    # An absolute root or one climbing out ("..") is not inside a checkout: keep paths root-relative.
    if root in ("", ".") or root.startswith(("/", "../")) or root == "..":
        return ""
    return root.rstrip("/") + "/"
