"""Documents: parsed data plus enough to find any value's file, line and column.

Loading (`reconciler.loading`) turns a file's bytes into plain trees or an error finding.
`Document.locate()` re-reads a document's text with ruamel.yaml's round-trip loader (YAML 1.2, like
the loaders) only where a finding is reported, and walks to the field. Error messages never echo
values: a malformed line may hold a secret.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.findings import Finding, Severity
from reconciler.loading import LoadError, load_text
from reconciler.source import Source, SourceProblem

FieldPath = tuple[str | int, ...]


class PositionText:
    """The text a file's documents are located in, parsed by ruamel once for all of them.

    The text can be let go (`release`) once a validation is done: a daemon keeps one revision's
    documents between cycles, and their texts would be as large as the parsed data. It is read back
    from the file (the part `span` of the decoded file, checked against the file's digest) only when a
    position is asked for again."""

    __slots__ = ("_origin", "_text", "_trees", "digest", "path", "size", "span")

    def __init__(self, text: str | None, path: str, digest: str, size: int, span: tuple[int, int]) -> None:
        self._text = text  # None: released
        self._trees: list[Any] | None = None
        self._origin: Source | None = None  # where the text is read back from once released
        self.path = path
        self.digest = digest  # sha256 of the whole file
        self.size = size  # the file's length in bytes
        self.span = span  # [start, end) of this text in the decoded file

    @property
    def kept(self) -> str | None:
        """The text while it is held in memory; None once released."""
        return self._text

    def release(self, origin: Source) -> None:
        """Drop the text and its parsed positions; `origin` holds the same file at the same path."""
        self._origin = origin
        self._text = None
        self._trees = None

    def _text_again(self) -> str | None:
        """The released text read back from its origin; None when the file there is no longer the
        one the documents were read from (positions are then the documents' first lines)."""
        if self._origin is None:
            return None
        try:
            raw = self._origin.read(self.path, self.size)
        except SourceProblem:
            return None
        if hashlib.sha256(raw).hexdigest() != self.digest:
            return None
        start, end = self.span
        self._text = raw.decode("utf-8").removeprefix("\ufeff")[start:end]
        return self._text

    def tree(self, index: int) -> Any:
        if self._trees is None:
            text = self._text if self._text is not None else self._text_again()
            if text is None:
                return None
            from ruamel.yaml import YAML

            try:
                self._trees = list(YAML(typ="rt").load_all(text))
            except Exception:  # positions are best effort; the loader already accepted this text
                self._trees = []
        return self._trees[index] if index < len(self._trees) else None


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
    # Where positions come from: the document is number `stream_index` (empty documents counted) of
    # `positions`, whose text starts at line `text_line` of the file.
    positions: PositionText | None = field(default=None, repr=False)
    text_line: int = 1
    stream_index: int = 0

    @property
    def text(self) -> str | None:
        """The text this document was read from (the whole file when it was read as one stream), while
        it is held in memory: None once released (`release_texts`)."""
        return self.positions.kept if self.positions is not None else None

    def locate(self, field_path: Sequence[str | int] | str = (), key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of the value at `field_path`, or of its key when `key` is set.
        A path that does not exist resolves to its deepest existing parent."""
        path = parse_field_path(field_path) if isinstance(field_path, str) else tuple(field_path)
        tree = self.positions.tree(self.stream_index) if self.positions is not None else None
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
        return self.text_line + line, col + 1


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
    try:
        loaded = load_text(path, text, raw)
    except LoadError as error:
        return result.error(error.rule, path, error.line, error.column, error.message)
    shared: dict[str, PositionText] = {}
    searched_from = 0
    for index, document in enumerate(loaded):
        positions = shared.get(document.text)
        if positions is None:
            # Where this text lies in the file, to cut it out again once released. The documents come
            # in file order, so each search starts where the last text ended.
            start = 0 if document.text is text else text.find(document.text, searched_from)
            searched_from = start + len(document.text)
            span = (start, searched_from)
            positions = PositionText(document.text, path, digest, len(raw), span)
            shared[document.text] = positions
        result.documents.append(
            Document(
                path,
                document.data,
                index,
                document.line,
                digest=digest,
                positions=positions,
                text_line=document.text_line,
                stream_index=document.stream_index,
            )
        )
    return result


def release_texts(documents: Iterable[Document], origin: Source) -> None:
    """Let go of the documents' texts and parsed positions. `origin` holds each document's file, with the
    same bytes, at its path (the revision the documents were validated in, or one that shares these
    files); a position asked for later reads the text back from there."""
    for document in documents:
        if document.positions is not None:
            document.positions.release(origin)


def intern_keys(documents: Iterable[Document]) -> None:
    """Make the documents' mapping keys the interpreter's interned strings, in place (the containers
    stay the same objects). The same names recur in every document, each a string of its own as
    parsed: 373,000 keys of which 10,000 distinct on a 10,000-entry repository, about 20 MB that a
    process keeping the documents holds for nothing."""
    intern = sys.intern
    stack: list[Any] = [document.data for document in documents]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            items = list(node.items())
            node.clear()
            for key, value in items:
                node[intern(key) if type(key) is str else key] = value
                if type(value) is dict or type(value) is list:
                    stack.append(value)
        elif type(node) is list:
            stack.extend(value for value in node if type(value) is dict or type(value) is list)
