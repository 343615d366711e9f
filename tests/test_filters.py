"""The SCIM-like filter parser and its SQL compiler: examples, then hypothesis properties
(render/parse round trip, fuzzing, SQL agrees with a Python evaluation)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.pool import StaticPool

from populace.errors import ApiError
from populace.filters import (
    Comparison,
    Compiled,
    FilterError,
    FilterScope,
    Junction,
    Node,
    PathField,
    ValuePath,
    boolean_field,
    compile_filter,
    exact_field,
    filter_condition,
    parse,
    text_field,
)
from populace.names import text_key


def eq(attribute: str, value: str | bool) -> Comparison:
    return Comparison(attribute, "eq", value)


def sw(attribute: str, value: str) -> Comparison:
    return Comparison(attribute, "sw", value)


def AND(*operands: Node) -> Junction:
    return Junction("and", operands)


def OR(*operands: Node) -> Junction:
    return Junction("or", operands)


def normalized(node: Node) -> Node:
    """Flatten ``(a and b) and c`` into ``a and b and c``: the same filter either way."""
    if isinstance(node, Comparison):
        return node
    operands: list[Node] = []
    for operand in map(normalized, node.operands):
        if isinstance(operand, Junction) and operand.operator == node.operator:
            operands.extend(operand.operands)
        else:
            operands.append(operand)
    return Junction(node.operator, tuple(operands))


# -- examples -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name eq "x"', eq("name", "x")),
        ('name EQ "x"', eq("name", "x")),
        ('name Sw "Eng"', sw("name", "Eng")),
        ('  name   eq\t"x"\n', eq("name", "x")),
        ('name eq"x"', eq("name", "x")),
        ('name eq ""', eq("name", "")),
        ('name eq "two  spaces "', eq("name", "two  spaces ")),
        ('name eq "δ 日本 🙂"', eq("name", "δ 日本 🙂")),
        (r'name eq "say \"hi\""', eq("name", 'say "hi"')),
        (r'name eq "back\\slash"', eq("name", "back\\slash")),
        (r'name eq "\\\""', eq("name", '\\"')),
        ('name eq "line\nbreak"', eq("name", "line\nbreak")),
        ('name eq "and or ( )"', eq("name", "and or ( )")),
        ("enabled eq true", eq("enabled", True)),
        ("enabled eq FALSE", eq("enabled", False)),
        ('population.id eq "p"', eq("population.id", "p")),
        ('(name eq "x")', eq("name", "x")),
        ('(((name eq "x")))', eq("name", "x")),
        ('name eq "a" and id eq "b"', AND(eq("name", "a"), eq("id", "b"))),
        ('name eq "a" AND id eq "b"', AND(eq("name", "a"), eq("id", "b"))),
        ('name eq "a" Or id eq "b"', OR(eq("name", "a"), eq("id", "b"))),
        ('name eq "a"or(id eq "b")', OR(eq("name", "a"), eq("id", "b"))),
        (
            'name eq "a" or name eq "b" and name eq "c"',
            OR(eq("name", "a"), AND(eq("name", "b"), eq("name", "c"))),
        ),
        (
            'name eq "a" and name eq "b" or name eq "c"',
            OR(AND(eq("name", "a"), eq("name", "b")), eq("name", "c")),
        ),
        (
            '(name eq "a" or name eq "b") and name eq "c"',
            AND(OR(eq("name", "a"), eq("name", "b")), eq("name", "c")),
        ),
        (
            'name eq "a" or name eq "b" or name eq "c"',
            OR(eq("name", "a"), eq("name", "b"), eq("name", "c")),
        ),
        (
            '((name eq "a-1")) OR ((name eq "a-2"))',
            OR(eq("name", "a-1"), eq("name", "a-2")),
        ),
        # single quotes, as PingOne's userFilter examples write them
        ("title eq 'Manager'", eq("title", "Manager")),
        ("title eq 'O\\'Brien'", eq("title", "O'Brien")),
        # a value path: the inner filter applies to the attribute's values
        (
            'memberOfGroups[id eq "g1"] and name eq "x"',
            Junction("and", (ValuePath("memberOfGroups", eq("id", "g1")), eq("name", "x"))),
        ),
    ],
)
def test_parse(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "name",
        "name eq",
        'eq "x"',
        '"x"',
        "name eq x",
        "name eq 'x",
        'memberOfGroups[id eq "x"',
        'memberOfGroups[id eq "x")',
        'name eq "x',
        'name eq "x\\"',
        '(name eq "x"',
        'name eq "x")',
        "()",
        'name eq "x" and',
        'or name eq "x"',
        'name eq "x" name eq "y"',
        'name eq "x" and and name eq "y"',
        'name = "x"',
        'name eq "x" && id eq "y"',
        'name eq ("x")',
        "(" * 40 + 'name eq "x"' + ")" * 40,
        'name eq "' + "x" * 5000 + '"',
    ],
)
def test_parse_rejects(text):
    with pytest.raises(FilterError):
        parse(text)


def test_nesting_up_to_the_limit_parses():
    assert parse("(" * 30 + 'name eq "x"' + ")" * 30) == eq("name", "x")


# -- compiling ----------------------------------------------------------------------------------

metadata = MetaData()
rows_table = Table(
    "rows",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("name_key", String, nullable=False),
)
FIELDS = {
    "id": exact_field(rows_table.c.id),
    "name": text_field(rows_table.c.name_key),
}


@pytest.fixture(scope="module")
def engine():
    engine = create_engine("sqlite://", poolclass=StaticPool)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def matching_ids(engine, names: list[str], compiled: Compiled) -> set[str]:
    """Load ``names`` (ids ``r0``, ``r1``, ...) into the table and run the filter."""
    with engine.begin() as conn:
        conn.execute(rows_table.delete())
        if names:
            conn.execute(
                insert(rows_table),
                [{"id": f"r{i}", "name": n, "name_key": text_key(n)} for i, n in enumerate(names)],
            )
        query = select(rows_table.c.id).where(compiled.condition)
        return set(conn.scalars(query, dict(compiled.values)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name eq "alpha"', {"r0"}),
        ('name eq "ALPHA"', {"r0"}),
        ('name sw "al"', {"r0", "r1"}),
        ('name sw "AL"', {"r0", "r1"}),
        ('name sw ""', {"r0", "r1", "r2", "r3"}),
        ('name eq "strasse"', {"r3"}),
        ('name sw "b" or id eq "r0"', {"r0", "r2"}),
        ('name sw "al" and not_a_name eq "x"', None),
        ('id eq "r1"', {"r1"}),
        ('id eq "R1"', set()),
        # attribute names are case-insensitive, as in SCIM (RFC 7644 3.4.2.2)
        ('NAME eq "alpha"', {"r0"}),
        ('Id EQ "r1"', {"r1"}),
    ],
)
def test_compile_against_sqlite(engine, text, expected):
    names = ["Alpha", "Albatross", "beta", "Straße"]
    if expected is None:
        with pytest.raises(ApiError):
            filter_condition(text, FIELDS)
        return
    assert matching_ids(engine, names, filter_condition(text, FIELDS)) == expected


@pytest.mark.parametrize(
    "text",
    ['description eq "x"', 'id sw "x"', 'name co "x"', "name eq true", "(("],
)
def test_filter_condition_reports_invalid_filter(text):
    with pytest.raises(ApiError) as raised:
        filter_condition(text, FIELDS)
    error = raised.value
    assert (error.status, error.code) == (400, "INVALID_DATA")
    assert [(d.code, d.target) for d in error.details] == [("INVALID_FILTER", "filter")]


def test_compile_names_the_unsupported_part():
    with pytest.raises(FilterError, match="description"):
        compile_filter(eq("description", "x"), FIELDS)
    with pytest.raises(FilterError, match="co"):
        compile_filter(Comparison("name", "co", "x"), FIELDS)


def test_exact_field_compared_with_a_boolean_matches_nothing(engine):
    assert (
        matching_ids(engine, ["true"], Compiled(compile_filter(eq("id", True), FIELDS), {}))
        == set()
    )


def _itself(inner: Any, _scope: FilterScope) -> Any:
    """A value path over the same rows: ``self[...]`` matches the rows its filter matches."""
    return rows_table.c.id.in_(select(rows_table.c.id).where(inner))


PATH_FIELDS = {**FIELDS, "self": PathField(FIELDS, _itself)}


def test_a_value_paths_values_are_bound_so_one_expression_serves_them_all(engine):
    """``self[id eq "rN"]`` for every N is one cached expression, its value bound when the
    statement runs; a value the field's compiler normalises (name) cannot be bound and is
    compiled in; both find what they should."""
    names = ["alpha", "beta", "Gamma"]
    first = filter_condition('self[id eq "r0"]', PATH_FIELDS)
    second = filter_condition('self[id eq "r1" or id eq "r2"]', PATH_FIELDS)
    again = filter_condition('self[id eq "r2"]', PATH_FIELDS)
    assert first.condition is again.condition  # one shape, one expression
    assert dict(first.values) == {"filter_value_0": "r0"}
    assert matching_ids(engine, names, first) == {"r0"}
    assert matching_ids(engine, names, second) == {"r1", "r2"}
    assert matching_ids(engine, names, again) == {"r2"}
    normalised = filter_condition('self[name eq "GAMMA"]', PATH_FIELDS)
    assert dict(normalised.values) == {}
    assert matching_ids(engine, names, normalised) == {"r2"}


def test_boolean_field_wants_a_boolean():
    fields = {"enabled": boolean_field(Column("enabled", String))}
    compile_filter(eq("enabled", True), fields)
    with pytest.raises(FilterError):
        compile_filter(eq("enabled", "true"), fields)


# -- property: render, parse back ---------------------------------------------------------------

# Characters a value may hold: anything but surrogates, with quotes and backslashes boosted.
value_text = st.text(
    # NUL is refused in filter values (see test_nul_in_a_value_is_refused)
    alphabet=st.one_of(
        st.sampled_from('"\\ ()'),
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    ),
    max_size=8,
)
comparisons = st.one_of(
    st.builds(
        Comparison, st.sampled_from(["id", "name"]), st.sampled_from(["eq", "sw"]), value_text
    ),
    st.builds(Comparison, st.just("enabled"), st.just("eq"), st.booleans()),
)
asts = st.recursive(
    comparisons,
    lambda children: st.builds(
        Junction,
        st.sampled_from(["and", "or"]),
        st.lists(children, min_size=2, max_size=3).map(tuple),
    ),
    max_leaves=10,
)
WHITESPACE = st.text(alphabet=" \t\n\r", max_size=2)


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Renderer:
    """Writes an AST as filter text, drawing spacing, keyword casing and extra parentheses."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def casing(self, word: str) -> str:
        upper = self.data.draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
        return "".join(c.upper() if u else c for c, u in zip(word, upper, strict=True))

    def tokens(self, node: Node, parent: str | None = None) -> Iterator[str]:
        # "and" binds tighter than "or": only an "or" inside an "and" needs parentheses.
        needs_parens = isinstance(node, Junction) and (parent, node.operator) == ("and", "or")
        extra = self.data.draw(st.integers(0, 1))
        parens = extra + (1 if needs_parens else 0)
        yield from ["("] * parens
        if isinstance(node, Comparison):
            yield node.attribute
            yield self.casing(node.operator)
            if isinstance(node.value, bool):
                yield self.casing(str(node.value).lower())
            else:
                yield quoted(node.value)
        else:
            for i, operand in enumerate(node.operands):
                if i:
                    yield self.casing(node.operator)
                yield from self.tokens(operand, node.operator)
        yield from [")"] * parens

    def render(self, node: Node) -> str:
        out = self.data.draw(WHITESPACE)
        previous = ""
        for token in self.tokens(node):
            space = self.data.draw(WHITESPACE)
            if is_word(previous) and is_word(token) and not space:
                space = " "
            out += (space if previous else "") + token
            previous = token
        return out + self.data.draw(WHITESPACE)


def is_word(token: str) -> bool:
    return bool(token) and token[0] not in '()"'


@given(asts, st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_rendered_filters_parse_back_to_the_same_ast(ast, data):
    text = Renderer(data).render(ast)
    assert normalized(parse(text)) == normalized(ast), text


# -- property: nothing but FilterError escapes --------------------------------------------------

FRAGMENTS = st.sampled_from(
    [
        "(",
        ")",
        '"',
        "\\",
        " ",
        "and",
        "OR",
        "name",
        "id",
        "eq",
        "sw",
        "co",
        '"x"',
        "true",
        "é",
        "\x00",
    ]
)


@given(st.one_of(st.text(max_size=60), st.lists(FRAGMENTS, max_size=30).map("".join)))
@settings(max_examples=500)
@example("(" * 100)
@example(")" * 100)
@example('name eq "' + "\\" * 7)
@example("name eq " + "(" * 50)
def test_any_text_parses_or_raises_filter_error(text):
    with contextlib.suppress(FilterError):
        parse(text)
    try:
        filter_condition(text, FIELDS)
    except ApiError as error:
        assert error.status == 400
        assert error.details[0].code == "INVALID_FILTER"


@given(st.integers(0, 200))
def test_deep_nesting_is_a_filter_error_not_a_crash(depth):
    text = "(" * depth + 'name eq "x"' + ")" * depth
    try:
        assert parse(text) == eq("name", "x")
    except FilterError:
        assert depth > 30


# -- property: SQL agrees with Python -----------------------------------------------------------


def evaluate(node: Node, row_id: str, name: str) -> bool:
    if isinstance(node, Junction):
        results = (evaluate(operand, row_id, name) for operand in node.operands)
        return all(results) if node.operator == "and" else any(results)
    assert isinstance(node.value, str)
    if node.attribute == "id":
        return row_id == node.value
    if node.operator == "eq":
        return text_key(name) == text_key(node.value)
    return text_key(name).startswith(text_key(node.value, trim=False))


NAME_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("aAbBßSsİ\u0131Σ\u03c3ς\u00e9\u0301\ud7ff\uffff\U0010ffff-_ "),
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    ),
    max_size=6,
)


@st.composite
def table_and_filter(draw: st.DrawFn) -> tuple[list[str], Node]:
    names = draw(st.lists(NAME_TEXT, max_size=8))

    def name_value() -> st.SearchStrategy[str]:
        """A name in the table, a case variant or prefix of one, or anything."""
        if not names:
            return NAME_TEXT
        picked = st.sampled_from(names)
        return st.one_of(
            picked,
            picked.map(str.upper),
            picked.map(str.lower),
            picked.flatmap(lambda n: st.integers(0, len(n)).map(lambda k: n[:k])),
            NAME_TEXT,
        )

    ids = [f"r{i}" for i in range(len(names))]
    leaves = st.one_of(
        st.builds(Comparison, st.just("name"), st.sampled_from(["eq", "sw"]), name_value()),
        st.builds(Comparison, st.just("id"), st.just("eq"), st.sampled_from([*ids, "r99", "R0"])),
    )
    node = draw(
        st.recursive(
            leaves,
            lambda children: st.builds(
                Junction,
                st.sampled_from(["and", "or"]),
                st.lists(children, min_size=2, max_size=3).map(tuple),
            ),
            max_leaves=6,
        )
    )
    return names, node


def render_plain(node: Node) -> str:
    if isinstance(node, Comparison):
        return f"{node.attribute} {node.operator} {quoted(str(node.value))}"
    return f" {node.operator} ".join(f"({render_plain(o)})" for o in node.operands)


@given(table_and_filter())
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example((["\ud7ff-tail", "other"], sw("name", "\ud7ff")))
@example((["a\ud7ff", "a\ud7ffb", "b"], sw("name", "a\ud7ff")))
@example((["\U0010ffff", "\U0010ffffz", "a"], sw("name", "\U0010ffff")))
@example((["Straße", "STRASSE", "strass"], sw("name", "STRASS")))
def test_sql_matches_python_evaluation(engine, case):
    names, node = case
    compiled = filter_condition(render_plain(node), FIELDS)
    expected = {f"r{i}" for i, name in enumerate(names) if evaluate(node, f"r{i}", name)}
    assert matching_ids(engine, names, compiled) == expected


def test_nul_in_a_value_is_refused() -> None:
    with pytest.raises(FilterError, match="NUL"):
        parse('name eq "a\x00b"')
