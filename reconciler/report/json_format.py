"""The stable JSON interface (see `Report.to_json`); paths relative to the Git checkout, as in every
format."""

from __future__ import annotations

import json

from reconciler.findings import Report
from reconciler.report import ReportContext
from reconciler.report.locations import checkout_prefix


def render(report: Report, context: ReportContext) -> str:
    out = report.to_json()
    prefix = checkout_prefix(context)
    if prefix:
        for finding in out["findings"]:
            finding["path"] = prefix + finding["path"]
    return json.dumps(out, indent=2) + "\n"
