"""Renderers turn one validation `Report` into an output format. Validation runs once; any number of
formats can be rendered from its result (annotations to stdout and SARIF to a file, say)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler import version
from reconciler.findings import Report
from reconciler.rules import RuleInfo


@dataclass(frozen=True)
class ReportContext:
    """What a renderer may need besides the findings."""

    rules: dict[str, RuleInfo] = field(default_factory=dict)
    # The repository folder relative to the enclosing Git checkout ("" at its top): renderers prefix
    # paths with it so annotations and SARIF locations resolve from the checkout root.
    root: str = ""
    revision: str | None = None

    @property
    def tool_version(self) -> str:
        return version()


Renderer = Callable[[Report, ReportContext], str]

# format name -> module whose `render(report, context) -> str` produces it
FORMATS: dict[str, str] = {
    "text": "reconciler.report.text",
    "json": "reconciler.report.json_format",
    "sarif": "reconciler.report.sarif",
    "github": "reconciler.report.github",
    "junit": "reconciler.report.junit",
    "markdown": "reconciler.report.markdown",
}

# file suffix -> format, for `--output FILE` without an explicit `FORMAT:` prefix
SUFFIXES: dict[str, str] = {
    ".sarif": "sarif",
    ".json": "json",
    ".xml": "junit",
    ".md": "markdown",
    ".txt": "text",
}


def renderer(name: str) -> Renderer:
    render: Renderer = importlib.import_module(FORMATS[name]).render
    return render
