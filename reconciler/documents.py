"""Parse file bytes into documents, keeping enough to find any value's file, line and column.

Parsing uses a fast path (the `yaml_rs` Rust parser, or `json`), because a repository holds thousands
of files and positions are needed only where a finding is reported. `Document.locate()` re-reads that
one document with ruamel.yaml's round-trip loader (YAML 1.2, like the fast path) and walks to the
field. Errors are findings with a position, never tracebacks, and their messages never echo values:
a malformed line may hold a secret.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml_rs

from reconciler.findings import Finding, Severity

FieldPath = tuple[str | int, ...]

# A line that is a YAML document marker. Such a line can never be content (YAML forbids it inside
# scalars at column 0), so splitting on it is exact.
_MARKER = re.compile(r"^(?:---|\.\.\.)(?:[ \t]+(.*))?$", re.MULTILINE)
_DIRECTIVE = re.compile(r"^%", re.MULTILINE)
_YAML_RS_POSITION = re.compile(r"at line (\d+), column (\d+)")
_DUPLICATE_KEY = re.compile(r'duplicate key "(.*?)" with value')


@dataclass(eq=False)
class Document:
    path: str
    data: Any
    index: int = 0  # 0-based position within a multi-document file
    line: int = 1  # 1-based line where this document's text starts in the file
    kind: str = "Unknown"
    # Whether the schema check passed. The model instances themselves are not kept: nothing downstream
    # needs them (policies and targets read `data`), and on a large repository they are a quarter of
    # the peak memory.
    valid: bool = False
    digest: str = ""  # sha256 of the whole file
    text: str = field(default="", repr=False)
    _tree: Any = field(default=None, repr=False)

    def locate(self, field_path: Sequence[str | int] | str = (), key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of the value at `field_path`, or of its key when `key` is set.
        A path that does not exist resolves to its deepest existing parent."""
        path = parse_field_path(field_path) if isinstance(field_path, str) else tuple(field_path)
        tree = self._positions()
        if tree is None:
            return self.line, 1
        line, col = _start(tree)
        node = tree
        for depth, step in enumerate(path):
            last = depth == len(path) - 1
            node_lc: Any = getattr(node, "lc", None)
            if node_lc is not None and isinstance(node, dict):
                found = _map_key(node, step)
                if found is _MISSING:
                    break
                line, col = node_lc.key(found) if (key and last) else node_lc.value(found)
                if not (key and last):
                    # for a nested block value, ruamel reports the key's line; prefer the value's own start
                    line, col = _start(node[found], (line, col))
                node = node[found]
            elif node_lc is not None and isinstance(node, list) and isinstance(step, int):
                if not 0 <= step < len(node):
                    break
                line, col = node_lc.item(step)
                node = node[step]
            else:
                break
        return self.line + line, col + 1

    def _positions(self) -> Any:
        if self._tree is None and self.text:
            from ruamel.yaml import YAML

            try:
                self._tree = YAML(typ="rt").load(self.text)
            except Exception:  # positions are best effort; the fast path already parsed this text
                self._tree = False
        return self._tree or None


_MISSING = object()


def _map_key(node: dict[Any, Any], step: str | int) -> Any:
    if step in node:
        return step
    alt = str(step) if isinstance(step, int) else (int(step) if step.isdigit() else None)
    return alt if alt is not None and alt in node else _MISSING


def _start(node: Any, default: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is not None and lc.line is not None:
        return lc.line, lc.col
    return default


_PATH_TOKEN = re.compile(r"""\[(\d+)\]|\[['"](.*?)['"]\]|\.?([^.\[\]]+)""")


def parse_field_path(text: str) -> FieldPath:
    """`spec.sessionStorage.keyPrefix`, `claims.team[1]`, `server._meta['io.x/y']` -> path tuple."""
    steps: list[str | int] = []
    for index, quoted, name in _PATH_TOKEN.findall(text):
        steps.append(int(index) if index else (quoted or name))
    return tuple(steps)


def format_field_path(path: Sequence[str | int]) -> str:
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif re.fullmatch(r"[A-Za-z0-9_$-]+", step):
            out += f".{step}" if out else step
        else:
            out += f"[{json.dumps(step)}]"
    return out


class ParseResult:
    __slots__ = ("documents", "findings")

    def __init__(self) -> None:
        self.documents: list[Document] = []
        self.findings: list[Finding] = []

    def error(self, rule: str, path: str, line: int, column: int, message: str) -> ParseResult:
        self.findings.append(Finding(rule, Severity.ERROR, path, line, column, message))
        return self


def parse(path: str, raw: bytes) -> ParseResult:
    """Every document in one file. JSON files hold one document; YAML files may hold several."""
    result = ParseResult()
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return result.error("encoding", path, line, column, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})")
    text = text.removeprefix("\ufeff")
    if path.endswith(".json"):
        _parse_json(path, text, digest, result)
    else:
        _parse_yaml(path, text, digest, result)
    return result


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey
    return out


def _parse_json(path: str, text: str, digest: str, result: ParseResult) -> None:
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        result.error("yaml-syntax", path, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}")
        return
    except _DuplicateKey:
        _report_with_ruamel(path, text, 1, result)
        return
    result.documents.append(Document(path, data, 0, 1, digest=digest, text=text))


def _chunks(text: str) -> list[tuple[int, str]] | None:
    """Split a YAML stream at document markers: (first line, text) per document. A document that
    starts on its `---` line (`--- {kind: X}`) starts there, the marker blanked to spaces so lines and
    columns stay those of the file. None when the file needs the full parser (directives, content
    after a `...` marker)."""
    if _DIRECTIVE.search(text):
        return None
    chunks: list[tuple[int, str]] = []
    start_line, start, pad = 1, 0, ""
    for marker in _MARKER.finditer(text):
        chunks.append((start_line, pad + text[start : marker.start()]))
        content = marker.group(1)
        if content and not content.lstrip().startswith("#"):
            if marker.group(0).startswith("..."):
                return None
            start, pad = marker.start(1), " " * (marker.start(1) - marker.start())
            start_line = text.count("\n", 0, marker.start()) + 1
        else:
            start, pad = marker.end() + 1, ""
            start_line = text.count("\n", 0, start) + 1
    chunks.append((start_line, pad + text[start:]))
    return chunks


def _parse_yaml(path: str, text: str, digest: str, result: ParseResult) -> None:
    chunks = _chunks(text)
    if chunks is None:
        _parse_with_ruamel(path, text, digest, result)
        return
    index = 0
    for first_line, chunk in chunks:
        try:
            data = yaml_rs.loads(chunk, parse_datetime=False)
        except yaml_rs.YAMLDecodeError as exc:
            _report_yaml_error(path, chunk, first_line, str(exc), result)
            return
        if data is None:  # an empty document (a trailing `---`, a comment-only file)
            continue
        result.documents.append(Document(path, data, index, first_line, digest=digest, text=chunk))
        index += 1


def _parse_with_ruamel(path: str, text: str, digest: str, result: ParseResult) -> None:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        documents = list(YAML(typ="safe", pure=True).load_all(text))
    except YAMLError:
        _report_with_ruamel(path, text, 1, result)
        return
    for index, data in enumerate(d for d in documents if d is not None):
        # Positions for these rare files come from the whole text; documents after the first are
        # located from the file start, which is exact only for the first document.
        result.documents.append(
            Document(path, data, index, 1, digest=digest, text=text if index == 0 else "")
        )


def _report_yaml_error(path: str, chunk: str, first_line: int, error: str, result: ParseResult) -> None:
    """The fast parser's own position is the better one (it points at an unclosed bracket where
    ruamel points at the end of the file); it gives none for duplicate keys, which ruamel locates."""
    position = _YAML_RS_POSITION.search(error)
    if position is None:
        _report_with_ruamel(path, chunk, first_line, result)
        return
    problem = error.strip().splitlines()[-1]
    line, column = int(position.group(1)), int(position.group(2))
    result.error("yaml-syntax", path, line + first_line - 1, column, problem)


def _report_with_ruamel(path: str, text: str, first_line: int, result: ParseResult) -> None:
    """Explain a parse failure with ruamel.yaml's marks (they locate duplicate keys too)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError

    try:
        list(YAML(typ="rt").load_all(text))
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        name = _DUPLICATE_KEY.search(str(exc.problem))
        first = exc.context_mark.line + first_line if exc.context_mark else None
        what = f"duplicate key '{name.group(1)}'" if name else "duplicate key"
        where = f" in the mapping that starts at line {first}" if first else ""
        result.error("duplicate-key", path, mark.line + first_line, mark.column + 1, what + where)
        return
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        problem = (exc.problem or "invalid YAML").split("\n")[0]
        context = f" ({exc.context})" if exc.context else ""
        result.error("yaml-syntax", path, mark.line + first_line, mark.column + 1, problem + context)
        return
    except Exception as exc:  # ruamel failed in another way: report its type, never the text
        result.error("yaml-syntax", path, first_line, 1, f"invalid YAML ({type(exc).__name__})")
        return
    # ruamel accepted what the fast parser refused (it is laxer about some 1.1-isms).
    result.error("yaml-syntax", path, first_line, 1, "invalid YAML")
