"""PingOne's SCIM-like filter subset: parse once, compile to SQL per resource.

Grammar (keywords in any case)::

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "(" expr ")" | comparison | valuepath
    comparison := ATTRIBUTE OPERATOR VALUE       e.g. name sw "Eng", enabled eq true
    valuepath  := ATTRIBUTE "[" expr "]"         e.g. memberOfGroups[id eq "..."]
    VALUE      := "quoted" or 'quoted' string (backslash escapes) | true | false

Each resource says which attributes and operators it supports; anything else is a 400
``INVALID_DATA`` / ``INVALID_FILTER``. The parser is small on purpose and fuzzed by hypothesis.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, false, or_
from sqlalchemy.sql.visitors import ExternallyTraversible, replacement_traverse

from populace.errors import ApiError, invalid_data
from populace.names import text_key
from populace.storage.functions import unicode_lower

MAX_FILTER_LENGTH = 4096
MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Comparison:
    attribute: str
    operator: str  # lower case: "eq" | "sw"
    value: str | bool


@dataclass(frozen=True, slots=True)
class Junction:
    operator: str  # "and" | "or"
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class ValuePath:
    """``attribute[filter]``: the filter applies to the attribute's values (SCIM)."""

    attribute: str
    filter: Node


Node = Comparison | Junction | ValuePath


class FilterError(ValueError):
    pass


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<paren>[()])
      | (?P<bracket>[\[\]])
      | "(?P<string>(?:[^"\\]|\\.)*)"
      | '(?P<quoted>(?:[^'\\]|\\.)*)'
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise FilterError(f"unexpected text at position {position}: {text[position:][:20]!r}")
        kind = match.lastgroup
        assert kind is not None
        value = match.group(kind)
        if kind == "quoted":  # 'single quotes', as PingOne's userFilter examples write them
            kind = "string"
        tokens.append((kind, _ESCAPE.sub(r"\1", value) if kind == "string" else value))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek_word(self) -> str | None:
        if self.position < len(self.tokens) and self.tokens[self.position][0] == "word":
            return self.tokens[self.position][1].lower()
        return None

    def take(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise FilterError("the filter ends too early")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expression(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise FilterError("the filter nests too deeply")
        return self._junction("or", lambda: self._junction("and", lambda: self.factor(depth)))

    def _junction(self, keyword: str, operand: Callable[[], Node]) -> Node:
        operands = [operand()]
        while self.peek_word() == keyword:
            self.position += 1
            operands.append(operand())
        return operands[0] if len(operands) == 1 else Junction(keyword, tuple(operands))

    def factor(self, depth: int) -> Node:
        kind, value = self.take()
        if (kind, value) == ("paren", "("):
            node = self.expression(depth + 1)
            if self.take() != ("paren", ")"):
                raise FilterError("a parenthesis is not closed")
            return node
        if kind != "word":
            raise FilterError(f"expected an attribute name, found {value!r}")
        if self.position < len(self.tokens) and self.tokens[self.position] == ("bracket", "["):
            self.position += 1
            inner = self.expression(depth + 1)
            if self.take() != ("bracket", "]"):
                raise FilterError(f"a bracket after {value!r} is not closed")
            return ValuePath(value, inner)
        operator_kind, operator = self.take()
        if operator_kind != "word":
            raise FilterError(f"expected an operator after {value!r}")
        value_kind, literal = self.take()
        if value_kind == "string":
            if "\x00" in literal:
                raise FilterError("values must not contain NUL characters")
            return Comparison(value, operator.lower(), literal)
        if value_kind == "word" and literal.lower() in ("true", "false"):
            return Comparison(value, operator.lower(), literal.lower() == "true")
        raise FilterError(f"expected a quoted value after {value} {operator}")


def parse(text: str) -> Node:
    """Parse a filter expression; raises :class:`FilterError` with a readable reason."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    parser = _Parser(_tokenize(text))
    node = parser.expression(0)
    if parser.position != len(parser.tokens):
        raise FilterError(f"unexpected {parser.tokens[parser.position][1]!r}")
    return node


# -- compiling to SQL -------------------------------------------------------------------------

# Builds the SQL condition for one attribute, given the operator and the value.
FieldCompiler = Callable[[str, str | bool], ColumnElement[bool]]


def _prefix_successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``.

    Surrogates (U+D800-U+DFFF) cannot be stored or sent to either database, so the successor
    of U+D7FF is U+E000.
    """
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            successor = 0xE000 if 0xD7FF <= last < 0xE000 else last + 1
            return prefix[:-1] + chr(successor)
        prefix = prefix[:-1]
    return None


def text_field(column: ColumnElement[str]) -> dict[str, FieldCompiler]:
    """eq and sw on a ``*_key`` column, comparing keys (``names.text_key``): a filter finds a
    name however it is spelled, exactly as uniqueness compares it.

    ``sw`` is a range on the column (``>= prefix`` and ``< successor``), so it uses the
    column's index instead of scanning with LIKE.
    """

    def normalize(value: str | bool, *, trim: bool = True) -> str:
        if not isinstance(value, str):
            raise FilterError("this attribute compares with a quoted string")
        return text_key(value, trim=trim)

    def starts_with(_op: str, value: str | bool) -> ColumnElement[bool]:
        prefix = normalize(value, trim=False)
        upper = _prefix_successor(prefix)
        lower_bound = column >= prefix
        return lower_bound if upper is None else and_(lower_bound, column < upper)

    return {
        "eq": lambda _op, value: column == normalize(value),
        "sw": starts_with,
    }


def case_insensitive_field(expression: ColumnElement[str]) -> dict[str, FieldCompiler]:
    """eq and sw on a text that has no key column (a JSON attribute): compared lower-cased,
    in every script. Unindexed: a filter on it alone scans, within the read budget."""
    lowered = unicode_lower(expression)

    def text(value: str | bool) -> str:
        if not isinstance(value, str):
            raise FilterError("this attribute compares with a quoted string")
        return value.lower()

    def starts_with(_op: str, value: str | bool) -> ColumnElement[bool]:
        prefix = text(value)
        upper = _prefix_successor(prefix)
        return lowered >= prefix if upper is None else and_(lowered >= prefix, lowered < upper)

    return {"eq": lambda _op, value: lowered == text(value), "sw": starts_with}


# Compilers that compare a value as it is given: inside a value path, their values are
# bound when the statement runs (see filter_condition).
_VERBATIM: set[FieldCompiler] = set()


def exact_field(column: ColumnElement[str]) -> dict[str, FieldCompiler]:
    def equals(_op: str, value: str | bool) -> ColumnElement[bool]:
        return column == value if isinstance(value, str) else false()

    _VERBATIM.add(equals)
    return {"eq": equals}


def boolean_field(column: ColumnElement[bool]) -> dict[str, FieldCompiler]:
    def equals(_op: str, value: str | bool) -> ColumnElement[bool]:
        if not isinstance(value, bool):
            raise FilterError("this attribute compares with true or false")
        return column == value

    return {"eq": equals}


class FilterScope(NamedTuple):
    """What a value path's condition depends on besides the filter: the request's path ids
    (its environment), and a partial actor's limit (the populations it reaches: a value path
    must not reach objects the actor may not see)."""

    ids: Mapping[str, str] = {}
    limit_to: frozenset[str] | None = None


NO_SCOPE = FilterScope()  # no path ids, no limit: filters without value paths


@dataclass(frozen=True, slots=True)
class PathField:
    """An attribute filtered as ``attribute[filter]``: ``filter`` is compiled over ``inner``
    fields, and ``condition`` turns that into a condition on the outer rows (e.g. "is a
    member of a group matching it") within the request's scope."""

    inner: Fields
    condition: Callable[[ColumnElement[bool], FilterScope], ColumnElement[bool]]


Fields = Mapping[str, "Mapping[str, FieldCompiler] | PathField"]


def compile_filter(
    node: Node, fields: Fields, scope: FilterScope = NO_SCOPE
) -> ColumnElement[bool]:
    """SQL for a parsed filter; ``scope`` reaches value-path fields."""
    if isinstance(node, Junction):
        parts = [compile_filter(operand, fields, scope) for operand in node.operands]
        return and_(*parts) if node.operator == "and" else or_(*parts)
    # SCIM attribute names are case-insensitive (RFC 7644 3.4.2.2); ours are all lower case.
    field = fields.get(node.attribute.lower())
    if field is None:
        supported = ", ".join(sorted(fields))
        raise FilterError(f"unsupported attribute {node.attribute!r}; supported: {supported}")
    if isinstance(node, ValuePath):
        if not isinstance(field, PathField):
            raise FilterError(f"{node.attribute!r} takes an operator and a value, not [...]")
        return field.condition(compile_filter(node.filter, field.inner, scope), scope)
    if isinstance(field, PathField):
        raise FilterError(f"{node.attribute!r} is filtered as {node.attribute}[...]")
    compiler = field.get(node.operator)
    if compiler is None:
        supported = ", ".join(sorted(field))
        raise FilterError(
            f"unsupported operator {node.operator!r} for {node.attribute!r}; supported: {supported}"
        )
    return compiler(node.operator, node.value)


class Compiled(NamedTuple):
    """A filter as SQL: the condition, and the values of its named parameters (bound when
    the statement runs; pass them with it)."""

    condition: ColumnElement[bool]
    values: Mapping[str, Any]


# Filters compiled lately, reused: a client paging through a filtered list sends the same
# filter with every page, and building the SQL expression (a value path's recursive query
# above all) costs more than running it. Expressions are immutable, so sharing them is safe.
# Each entry keeps its fields, so their id in the key cannot be reused by other fields.
#
# A value path's values are lifted out before the lookup and bound when the statement runs:
# ``memberOfGroups[id eq "..."]`` for a thousand groups is one entry, not a thousand (each
# ~90 objects that every full collection of the garbage collector would walk: bench/README.md).
_COMPILED: OrderedDict[tuple[Any, ...], tuple[Fields, ColumnElement[bool]]] = OrderedDict()
COMPILED_FILTERS_KEPT = 1024
_LIFTED = "\x00populace-lifted-{}\x00"  # stands for a lifted value while compiling
BOUND_VALUE = "filter_value_{}"


def _lift(node: Node, fields: Fields, values: list[str], inside: bool = False) -> Node:
    """The filter with each string value inside a value path that its field compares as it
    is (:func:`exact_field`) replaced by a stand-in; the values go to ``values``, in order.
    A value a field normalises first stays in the filter (and in the cache key)."""
    if isinstance(node, Junction):
        operands = tuple(_lift(o, fields, values, inside) for o in node.operands)
        return replace(node, operands=operands)
    field = fields.get(node.attribute.lower())
    if isinstance(node, ValuePath):
        if not isinstance(field, PathField):
            return node  # refused when compiled
        return replace(node, filter=_lift(node.filter, field.inner, values, inside=True))
    verbatim = isinstance(field, Mapping) and field.get(node.operator) in _VERBATIM
    if inside and verbatim and isinstance(node.value, str):
        values.append(node.value)
        return replace(node, value=_LIFTED.format(len(values) - 1))
    return node


def _bound(condition: ColumnElement[bool], count: int) -> ColumnElement[bool]:
    """The condition with each stand-in a named parameter (an exact field compares its
    value as given, so every stand-in is there to be found)."""
    stand_ins = {_LIFTED.format(i): BOUND_VALUE.format(i) for i in range(count)}
    found: set[str] = set()

    def named(element: ExternallyTraversible, **_: Any) -> ExternallyTraversible | None:
        if not isinstance(element, BindParameter) or not isinstance(element.value, str):
            return None
        if element.value not in stand_ins:
            return None
        found.add(element.value)
        return bindparam(stand_ins[element.value], type_=element.type)

    replaced: ColumnElement[bool] = replacement_traverse(condition, {}, named)
    assert len(found) == count, "a verbatim field changed the value it was given"
    return replaced


def filter_condition(text: str, fields: Fields, scope: FilterScope = NO_SCOPE) -> Compiled:
    """Parse and compile, turning any problem into PingOne's 400 INVALID_FILTER."""
    try:
        node = parse(text)
        lifted: list[str] = []
        shape = _lift(node, fields, lifted)
        values = {BOUND_VALUE.format(i): value for i, value in enumerate(lifted)}
        key = (repr(shape), id(fields), tuple(sorted(scope.ids.items())), scope.limit_to)
        cached = _COMPILED.get(key)
        if cached is not None:
            _COMPILED.move_to_end(key)
            return Compiled(cached[1], values)
        condition = _bound(compile_filter(shape, fields, scope), len(lifted))
    except FilterError as exc:
        raise invalid_filter(str(exc)) from None
    _COMPILED[key] = (fields, condition)
    if len(_COMPILED) > COMPILED_FILTERS_KEPT:
        _COMPILED.popitem(last=False)
    return Compiled(condition, values)


def invalid_filter(reason: str) -> ApiError:
    return invalid_data("INVALID_FILTER", "filter", f"The filter is not valid: {reason}.")
