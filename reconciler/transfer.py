"""Documents and findings as plain values, to come back from a forked worker (reconciler/parallel.py).

Plain tuples and the documents' own data (JSON-like trees: the loader guarantees it) are what
`marshal` carries, several times faster than pickling the objects. A file's documents share one
position text; it travels once per file, with where it lies in the file (to be read back once released).
"""

from __future__ import annotations

from typing import TypeAlias, cast

from reconciler.documents import Document, PositionText
from reconciler.findings import Finding, Severity

WireFinding: TypeAlias = tuple[str, str, str, int, int, str, str | None]
# path, data, index, line, kind, valid, digest, text number (-1: none), text_line, stream_index
WireDocument: TypeAlias = tuple[str, object, int, int, str, bool, str, int, int, int]
# a position text: the text, the file's size, the text's span in the decoded file
WireText: TypeAlias = tuple[str | None, int, int, int]
WireDocuments: TypeAlias = tuple[list[WireDocument], list[WireText]]


def findings_out(findings: list[Finding]) -> list[WireFinding]:
    return [(f.rule, f.severity.value, f.path, f.line, f.column, f.message, f.waived) for f in findings]


def findings_in(wire: object) -> list[Finding]:
    return [
        Finding(rule, Severity(severity), path, line, column, message, waived)
        for rule, severity, path, line, column, message, waived in cast(list[WireFinding], wire)
    ]


def documents_out(documents: list[Document]) -> WireDocuments:
    texts: list[WireText] = []
    numbers: dict[int, int] = {}
    out: list[WireDocument] = []
    for d in documents:
        number = -1
        if d.positions is not None:
            number = numbers.get(id(d.positions), -1)
            if number < 0:
                number = numbers[id(d.positions)] = len(texts)
                start, end = d.positions.span
                texts.append((d.positions.kept, d.positions.size, start, end))
        out.append(
            (d.path, d.data, d.index, d.line, d.kind, d.valid, d.digest, number, d.text_line, d.stream_index)
        )
    return out, texts


def documents_in(wire: object) -> list[Document]:
    rows, texts = cast(WireDocuments, wire)
    positions: dict[int, PositionText] = {}

    def position(number: int, path: str, digest: str) -> PositionText | None:
        """The text `number`, made once for all the documents of its file (same path and digest)."""
        if number < 0:
            return None
        made = positions.get(number)
        if made is None:
            text, size, start, end = texts[number]
            made = positions[number] = PositionText(text, path, digest, size, (start, end))
        return made

    return [
        Document(
            path,
            data,
            index,
            line,
            kind,
            valid,
            digest,
            position(number, path, digest),
            text_line,
            stream_index,
        )
        for path, data, index, line, kind, valid, digest, number, text_line, stream_index in rows
    ]
