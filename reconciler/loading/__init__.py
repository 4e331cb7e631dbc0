"""The one loading path for every file read from a repository (entries, manifests, the registry config,
the settings file, policies; working tree or Git revision): bytes -> plain trees, or an error finding
at a line. See docs/loading.md for the parsers chosen and why.

- Text: UTF-8 only; control characters (NUL included) are refused before any parser runs, so no
  parser can stop early at one and silently drop the rest of a file.
- YAML: a fast path (`yaml_rs`) for files that use no anchor, alias, tag, directive, complex key,
  merge key or number form it reads differently from the core schema. Everything else, and anything
  the fast path refuses or that breaks a limit, goes through the safe path (`safe_yaml`: libyaml +
  the YAML 1.2 core schema + limits), which gives the reason and its line.
- JSON: the standard library's parser; a duplicate key, a limit broken or an integer it refuses
  sends the file to the safe path too (JSON is YAML), for the reason and its line.
- Every result passes `limits.tree_problem`: plain trees, bounded, nothing shared.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import cast

import yaml_rs

from reconciler.loading.limits import (
    PlainValue,
    int_problem,
    json_within_limits,
    string_problem,
    tree_problem,
)
from reconciler.loading.problems import LoadError

__all__ = ["LoadError", "LoadedDocument", "PlainValue", "load_text"]


@dataclass
class LoadedDocument:
    data: PlainValue
    line: int  # 1-based line where the document starts in the file
    text: str  # the text the positional parser re-reads to locate fields
    text_line: int  # 1-based line in the file where `text` starts
    stream_index: int  # which document of `text` this is, empty documents included


# YAML's printable set (c-printable), which JSON text also keeps to outside escapes.
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ASCII_PRINTABLE = bytes([9, 10, 13, *range(0x20, 0x7F)])
# Bytes that can start YAML syntax the fast path handles unsafely: anchors, aliases, tags, directives,
# complex keys (`?`) and merge keys (`<<`). A file holding any of them takes the safe path.
_FAST_PATH_UNSAFE = b"&*!%?<"
_OTHER_BYTES = bytes(b for b in range(256) if b not in _FAST_PATH_UNSAFE)
# Number forms `yaml_rs` reads as numbers where the YAML 1.2 core schema has strings: underscores
# anywhere in a number (`1_000`, `_1`, `1__0`, `0x_1F`), `0X1F`, `0b101` (found by
# tests/test_loader_differential.py). Candidates are found by searches that start with a literal
# (fast), then the token around each is checked.
_NUMBER_CANDIDATES = (re.compile(r"_(?:(?=[-+.0-9_])|(?<=[-+.0-9]_))"), re.compile(r"0[XbB]"))
_TOKEN_START = frozenset(" \t\n[{,:'\"")
# A carriage return not followed by a line feed ends a line for YAML, but `_chunks` splits at line feeds
# only, and `yaml_rs` returns a stream of several documents as one list: such a file takes the safe path.
_LONE_CR = re.compile(r"\r(?!\n)")


def _non_core_number(text: str) -> bool:
    """Whether a plain token that starts like a number (a digit after any signs, dots and underscores)
    holds a candidate. Linear: a walk back stops at the previous candidate of the same token, and a
    token is judged once, however many candidates it holds."""
    for pattern in _NUMBER_CANDIDATES:
        previous, previous_start = -1, -1
        for found in pattern.finditer(text):
            position = start = found.start()
            while start > 0 and text[start - 1] not in _TOKEN_START:
                if start - 1 == previous:
                    start = previous_start
                    break
                start -= 1
            if start != previous_start:
                first = start
                while first < len(text) and text[first] in "-+._":
                    first += 1
                if text[first : first + 1].isdigit():
                    return True
            previous, previous_start = position, start
    return False


# A YAML document marker line: never content (YAML forbids it inside scalars at column 0). A line may
# end in CR LF (`$` matches before the LF only).
_MARKER = re.compile(r"^(?:---|\.\.\.)(?:[ \t]+(.*?))?\r?$", re.MULTILINE)


# Where such a string comes from (to point at it; escaped backslashes are not told apart).
_UNSTORABLE_ESCAPE = re.compile(r"\\(?:0|x00|u0000|U00000000|u[dD][89a-fA-F][0-9a-fA-F]{2})")


def _place(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def control_character(text: str, raw: bytes) -> LoadError | None:
    """The first character no YAML or JSON file may hold, as a finding at its place."""
    if raw.isascii() and not raw.translate(None, _ASCII_PRINTABLE):
        return None
    found = _NOT_PRINTABLE.search(text)
    if found is None:
        return None
    line, column = _place(text, found.start())
    message = f"control character U+{ord(found.group()):04X} is not allowed"
    return LoadError("yaml-syntax", line, column, message)


def load_text(path: str, text: str, raw: bytes) -> list[LoadedDocument]:
    """The documents of one decoded file (`raw` is its bytes); raises LoadError."""
    refused = control_character(text, raw)
    if refused is not None:
        raise refused
    if path.endswith(".json"):
        documents = _load_json(text)
        # What json.loads returns is always a plain tree (string keys, no shared node) of 64-bit
        # integers (_json_int): only its size can break the limits, and when the text bounds that,
        # the walk is not needed.
        checked = documents is not None and json_within_limits(text)
    else:
        documents, checked = _load_yaml_fast(text, raw), False
    # Neither fast path can share a node: the YAML one takes no file with an anchor or alias.
    if documents is None or (not checked and any(tree_problem(d.data, aliases=False) for d in documents)):
        documents = _load_safely(path, text)
    if "\\" in text:
        for document in documents:
            problem = string_problem(document.data)
            if problem is not None:
                found = _UNSTORABLE_ESCAPE.search(text)
                line, column = _place(text, found.start()) if found else (document.line, 1)
                raise LoadError("yaml-syntax", line, column, problem)
    return documents


def _load_safely(path: str, text: str) -> list[LoadedDocument]:
    """The safe path: it reads JSON as the YAML it also is, and raises at the place of the problem."""
    # Imported here: most runs never need it, and PyYAML costs every command's start-up.
    from reconciler.loading.safe_yaml import load_yaml

    documents = [
        LoadedDocument(d.data, d.line, text, 1, d.stream_index) for d in load_yaml(text) if d.data is not None
    ]
    for document in documents:
        problem = tree_problem(document.data)
        if problem is not None:  # the safe path checks as it builds; this keeps the guarantee in one place
            raise LoadError("yaml-limit", document.line, 1, problem)
    if path.endswith(".json") and len(documents) != 1:
        raise LoadError("yaml-syntax", 1, 1, "a JSON file holds exactly one document")
    return documents


class _NotForTheFastPath(Exception):
    """The fast JSON path cannot tell why a file is refused (a duplicate key, an integer out of range)."""


def _no_duplicates(pairs: list[tuple[str, PlainValue]]) -> dict[str, PlainValue]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _NotForTheFastPath
    return out


def _json_int(literal: str) -> int:
    value = int(literal)
    if int_problem(value) is not None:
        raise _NotForTheFastPath
    return value


def _load_json(text: str) -> list[LoadedDocument] | None:
    """The document through the standard library's parser, or None when the safe path must say why
    it cannot be loaded (a duplicate key, nesting or an integer beyond the limits)."""
    try:
        data: PlainValue = json.loads(text, object_pairs_hook=_no_duplicates, parse_int=_json_int)
    except json.JSONDecodeError as exc:
        raise LoadError("yaml-syntax", exc.lineno, exc.colno, f"invalid JSON: {exc.msg}") from None
    except (_NotForTheFastPath, RecursionError, ValueError):
        return None
    return [LoadedDocument(data, 1, text, 1, 0)]


def _chunks(text: str) -> list[tuple[int, str]] | None:
    """Split a YAML stream at document markers: (first line, text) per document. None when the file
    needs the full parser (content on a marker line)."""
    if not text.startswith(("---", "...")) and "\n---" not in text and "\n..." not in text:
        return [(1, text)]  # no line starts like a marker: one document (most files, found in C)
    chunks: list[tuple[int, str]] = []
    start_line, start = 1, 0
    for marker in _MARKER.finditer(text):
        if marker.group(1) and not marker.group(1).lstrip().startswith("#"):
            return None
        chunks.append((start_line, text[start : marker.start()]))
        # counted from the previous chunk on: linear in the file, however many markers it has
        start_line += text.count("\n", start, marker.end() + 1)
        start = marker.end() + 1
    chunks.append((start_line, text[start:]))
    return chunks


def _load_yaml_fast(text: str, raw: bytes) -> list[LoadedDocument] | None:
    """The documents through `yaml_rs`, or None when the file must take the safe path."""
    lone_cr = "\r" in text and _LONE_CR.search(text) is not None
    if lone_cr or raw.translate(None, _OTHER_BYTES) or _non_core_number(text):
        return None
    chunks = _chunks(text)
    if chunks is None:
        return None
    documents: list[LoadedDocument] = []
    for first_line, chunk in chunks:
        try:
            data: object = yaml_rs.loads(chunk, parse_datetime=False)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # a refusal, or a Rust panic: the safe path reports it, with its place
            return None
        if data is not None:  # None: an empty document (a trailing `---`, a comment-only file)
            # Unchecked yet: load_text checks every document before it is used.
            documents.append(LoadedDocument(cast(PlainValue, data), first_line, chunk, first_line, 0))
    return documents
