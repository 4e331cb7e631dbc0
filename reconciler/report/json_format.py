"""The stable JSON interface (see `Report.to_json`)."""

from __future__ import annotations

import json

from reconciler.findings import Report
from reconciler.report import ReportContext


def render(report: Report, context: ReportContext) -> str:
    return json.dumps(report.to_json(), indent=2) + "\n"
