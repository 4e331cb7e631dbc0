"""The safe YAML path: libyaml (through PyYAML's C parser) builds the node graph, and this module turns
it into plain trees under the YAML 1.2 core schema, with every limit checked at the node that breaks
it. libyaml refuses control characters and nests at most 1,000 levels itself; it keeps an alias as a
second reference to the anchored node, so expansion and recursion are decided here, never by
building them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import yaml
from yaml._yaml import CParser
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.loading.limits import (
    MAX_ALIAS_NODES,
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_NODES,
    PlainValue,
    int_problem,
)
from reconciler.loading.problems import LoadError

_CORE = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (f"{_CORE}{name}" for name in ("str", "int", "float", "bool", "null"))
SEQ, MAP = f"{_CORE}seq", f"{_CORE}map"
# A plain scalar without a tag: resolved by the core schema's rules, in `_plain`.
_PLAIN = "?plain"

_NULL = frozenset(("", "~", "null", "Null", "NULL"))
_TRUE = frozenset(("true", "True", "TRUE"))
_FALSE = frozenset(("false", "False", "FALSE"))
_INT10 = re.compile(r"[-+]?[0-9]+")
_INT8 = re.compile(r"0o[0-7]+")
_INT16 = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")
_NOT_CORE = "tag {} is not in the YAML 1.2 core schema"


@dataclass
class YamlDocument:
    data: PlainValue
    line: int  # 1-based line where the document's content starts
    stream_index: int  # position in the stream, empty documents included


class _Parser(CParser):
    """libyaml's parser and composer, with tags left for `_Builder` to resolve."""

    def resolve(self, kind: type[Node], value: object, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else STR
        return SEQ if kind is SequenceNode else MAP

    def descend_resolver(self, current_node: object, current_index: object) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


def _tag_name(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


def _error(rule: str, node: Node, message: str) -> LoadError:
    return LoadError(rule, node.start_mark.line + 1, node.start_mark.column + 1, message)


def _plain(node: ScalarNode) -> PlainValue:
    text = node.value
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    first = text[0]
    if first.isdigit() or first in "-+.":
        if _INT10.fullmatch(text):
            return _integer(node, text, 10)
        if _INT8.fullmatch(text):
            return _integer(node, text[2:], 8)
        if _INT16.fullmatch(text):
            return _integer(node, text[2:], 16)
        if _FLOAT.fullmatch(text):
            return float(text)
        if _INF.fullmatch(text):
            return -math.inf if first == "-" else math.inf
        if _NAN.fullmatch(text):
            return math.nan
    return text


def _integer(node: ScalarNode, digits: str, base: int) -> int:
    if len(digits.lstrip("+-0")) > MAX_INT_DIGITS:
        raise _error("yaml-limit", node, "integer out of the 64-bit range policies can evaluate")
    value = int(digits, base)
    problem = int_problem(value)
    if problem:
        raise _error("yaml-limit", node, problem)
    return value


def _tagged(node: ScalarNode) -> PlainValue:
    """A scalar with an explicit core-schema tag: its text must be of that type."""
    tag, text = node.tag, node.value
    if tag == STR:
        return text
    value = _plain(node)
    if tag == NULL and value is None:
        return None
    if tag == BOOL and isinstance(value, bool):
        return value
    if tag == INT and type(value) is int:
        return value
    if tag == FLOAT and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise _error("yaml-syntax", node, f"the value is not a valid {_tag_name(tag)}")


class _Builder:
    """One file's documents: node graph -> plain trees."""

    def __init__(self) -> None:
        self.built: set[int] = set()  # nodes built at least once: a second visit is an alias
        self.open: set[int] = set()  # nodes being built: meeting one again is a recursive alias
        self.aliases = 0  # alias uses written in the file
        self.alias_nodes = 0  # nodes that expanding them added
        # While an alias is expanded, the place of the alias use that started it: limits broken
        # inside the expansion are reported there, where the file says to expand.
        self.site: Mark | None = None
        self.nodes = 0

    def start_document(self) -> None:
        # Anchors are scoped to their document; node ids of a finished document may be reused.
        self.built.clear()
        self.open.clear()
        self.nodes = 0

    def _limit(self, where: Mark, message: str) -> LoadError:
        mark = self.site or where
        return LoadError("yaml-limit", mark.line + 1, mark.column + 1, message)

    def build(self, node: Node, where: Mark, depth: int = 0) -> PlainValue:
        """`where` is the place that refers to `node`: the key of a mapping value, else the node."""
        key = id(node)
        if key in self.open:
            raise self._limit(where, "recursive alias: an anchored node contains itself")
        outermost = key in self.built and self.site is None
        if outermost:
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise self._limit(where, f"more than {MAX_ALIASES} alias uses in one file")
            self.site = where
        try:
            return self._value(node, where, depth)
        finally:
            if outermost:
                self.site = None
            self.built.add(key)

    def _count(self, node: Node) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self._limit(node.start_mark, f"more than {MAX_NODES} nodes in one document")
        if self.site is not None:
            self.alias_nodes += 1
            if self.alias_nodes > MAX_ALIAS_NODES:
                raise self._limit(node.start_mark, f"alias expansion exceeds {MAX_ALIAS_NODES} nodes")

    def _value(self, node: Node, where: Mark, depth: int) -> PlainValue:
        self._count(node)
        tag = node.tag
        if isinstance(node, ScalarNode):
            if tag == _PLAIN:
                return _plain(node)
            if tag in (STR, INT, FLOAT, BOOL, NULL):
                return _tagged(node)
            raise _error("yaml-syntax", node, _NOT_CORE.format(_tag_name(tag)))
        if depth >= MAX_DEPTH:
            raise self._limit(node.start_mark, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, SequenceNode) and tag == SEQ:
            self.open.add(id(node))
            try:
                # An alias item keeps no place of its own: the place referring to the sequence stands in.
                return [self.build(item, where, depth + 1) for item in node.value]
            finally:
                self.open.discard(id(node))
        if isinstance(node, MappingNode) and tag == MAP:
            self.open.add(id(node))
            try:
                return self._mapping(node, depth)
            finally:
                self.open.discard(id(node))
        raise _error("yaml-syntax", node, _NOT_CORE.format(_tag_name(tag)))

    def _mapping(self, node: MappingNode, depth: int) -> dict[str, PlainValue]:
        out: dict[str, PlainValue] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise _error("yaml-syntax", key_node, "a mapping key must be a scalar, not a mapping or list")
            if key_node.tag not in (_PLAIN, STR, INT, FLOAT, BOOL, NULL):
                raise _error("yaml-syntax", key_node, _NOT_CORE.format(_tag_name(key_node.tag)))
            self._count(key_node)
            # Keys are kept as written: a plain tree has string keys, as JSON does.
            name = key_node.value
            if name in out:
                start = node.start_mark.line + 1
                raise _error(
                    "duplicate-key",
                    key_node,
                    f"duplicate key '{name}' in the mapping that starts at line {start}",
                )
            out[name] = self.build(value_node, key_node.start_mark, depth + 1)
        return out


def load_yaml(text: str) -> list[YamlDocument]:
    """Every document of a YAML stream as a plain tree; raises LoadError (syntax, limits, tags)."""
    parser = _Parser(text)
    documents: list[YamlDocument] = []
    builder = _Builder()
    try:
        index = 0
        while parser.check_node():
            node = parser.get_node()
            if node is None:
                break
            builder.start_document()
            data = builder.build(node, node.start_mark)
            documents.append(YamlDocument(data, node.start_mark.line + 1, index))
            index += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        problem = (exc.problem or "invalid YAML").split("\n")[0]
        if "maximum nesting depth" in problem and mark is not None:  # libyaml's own bound, 1,000
            deep = f"nested deeper than {MAX_DEPTH} levels"
            raise LoadError("yaml-limit", mark.line + 1, mark.column + 1, deep) from None
        context = f" ({exc.context})" if exc.context else ""
        if exc.context_mark is not None and (mark is None or mark.index >= len(text.rstrip())):
            # Something left open (a bracket, a quote) is reported where it opens, not at the end.
            mark = exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise LoadError("yaml-syntax", line, column, problem + context) from None
    except yaml.reader.ReaderError as exc:
        raise LoadError("yaml-syntax", 1, 1, f"invalid character at position {exc.position}") from None
    except yaml.YAMLError as exc:
        raise LoadError("yaml-syntax", 1, 1, f"invalid YAML ({type(exc).__name__})") from None
    finally:
        parser.dispose()
    return documents
