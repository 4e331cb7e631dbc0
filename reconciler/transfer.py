"""Documents and findings as plain values, to come back from a forked worker (reconciler/parallel.py).

Plain tuples and the documents' own data (JSON-like trees: the loader guarantees it) are what
`marshal` carries, several times faster than pickling the objects. A file's documents share one
position text; it travels once per file.
"""

from __future__ import annotations

from typing import TypeAlias, cast

from reconciler.documents import Document, PositionText
from reconciler.findings import Finding, Severity

WireFinding: TypeAlias = tuple[str, str, str, int, int, str, str | None]
# path, data, index, line, kind, valid, digest, text number (-1: none), text_line, stream_index
WireDocument: TypeAlias = tuple[str, object, int, int, str, bool, str, int, int, int]
WireDocuments: TypeAlias = tuple[list[WireDocument], list[str]]


def findings_out(findings: list[Finding]) -> list[WireFinding]:
    return [(f.rule, f.severity.value, f.path, f.line, f.column, f.message, f.waived) for f in findings]


def findings_in(wire: object) -> list[Finding]:
    return [
        Finding(rule, Severity(severity), path, line, column, message, waived)
        for rule, severity, path, line, column, message, waived in cast(list[WireFinding], wire)
    ]


def documents_out(documents: list[Document]) -> WireDocuments:
    texts: list[str] = []
    numbers: dict[int, int] = {}
    out: list[WireDocument] = []
    for d in documents:
        number = -1
        if d.positions is not None:
            number = numbers.get(id(d.positions), -1)
            if number < 0:
                number = numbers[id(d.positions)] = len(texts)
                texts.append(d.positions.text)
        out.append(
            (d.path, d.data, d.index, d.line, d.kind, d.valid, d.digest, number, d.text_line, d.stream_index)
        )
    return out, texts


def documents_in(wire: object) -> list[Document]:
    rows, texts = cast(WireDocuments, wire)
    positions = [PositionText(text) for text in texts]
    return [
        Document(
            path,
            data,
            index,
            line,
            kind,
            valid,
            digest,
            positions[number] if number >= 0 else None,
            text_line,
            stream_index,
        )
        for path, data, index, line, kind, valid, digest, number, text_line, stream_index in rows
    ]
