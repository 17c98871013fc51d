"""Hypothesis strategies: documents and expressions that make the two compilers disagree if they can.

Values come from small pools on purpose, so that comparisons often hit equal values, near misses
across types (1, 1.0, "1", true), missing fields next to nulls, and strings that look like SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from baas.rules.ast import (
    DOCUMENT_FIELDS,
    And,
    Auth,
    Compare,
    Const,
    Exists,
    Field,
    In,
    Node,
    Not,
    Now,
    Or,
    Own,
    Size,
    StartsWith,
)

KEYS = ["a", "b", "tags", "n"]
# Keys no expression can name (non-ASCII, dots, quotes, SQL): documents still carry them.
ODD_KEYS = ["é", "a.b", "it's", 'say "hi"', "x; DROP TABLE x", "$id", "0"]
STRINGS = [
    "", "a", "b", "A", "ab", "abc", "B", "é", "e\u0301", "ß", "😀", "日本", "a\"b", "a'b", "\\", "%", "_",
    "' OR 1=1 --", "null", "1", "true", "\u00a0", "\t\n", "2024-01-01", "2024-03-01T00:00:00.000000Z",
    "2024-03-01T00:00:00Z", "u1",
]  # fmt: skip
NUMBERS = [0, 1, -1, 2, 3, 10, 0.0, -0.0, 0.5, 1.0, 2.5, -1.5, 0.1, 1e10, 1e-7, 3.0]
# The edges of what can be stored (baas.jsonvalues): the largest safe integers, doubles at and past
# 2^53 (where doubles stop holding every integer), numbers whose shortest decimal is far from their
# exact value (1e30 is 1000000000000000019884624838656), the largest and smallest doubles.
EDGE_NUMBERS = [
    2**53 - 1, -(2**53 - 1), 2**53 - 2, 9007199254740991.0, 9007199254740992.0, -9007199254740992.0,
    9007199254740994.0, 1e16, 1e30, -1e30, 1.0000000000000002e30, 123456789012345680.0,
    1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 2.2250738585072014e-308,
]  # fmt: skip
# Values that no document may hold: the policy refuses them at write, and as literals.
UNSTORABLE_NUMBERS = [2**53, -(2**53), 2**53 + 1, 10**30, 10**400]
UNSTORABLE_STRINGS = ["\x00", "a\x00", "approved\x00x", "\ud800", "x\udfff", "\udc00a"]

text = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
    max_size=4,
)
strings = st.one_of(st.sampled_from(STRINGS), text, st.sampled_from(STRINGS), st.sampled_from(UNSTORABLE_STRINGS))
numbers = st.one_of(
    st.sampled_from(NUMBERS), st.integers(-5, 5), st.sampled_from(EDGE_NUMBERS), st.sampled_from(UNSTORABLE_NUMBERS)
)
scalars = st.one_of(numbers, strings, st.booleans(), st.none())
# Documents may also come with numbers no literal can spell (NaN, infinities): refused at write.
data_scalars = st.one_of(scalars, st.sampled_from([float("nan"), float("inf"), float("-inf")]))


def _containers(children: st.SearchStrategy) -> st.SearchStrategy:
    keys = st.sampled_from(KEYS + KEYS + ODD_KEYS)
    return st.one_of(st.lists(children, max_size=3), st.dictionaries(keys, children, max_size=3))


json_values = st.recursive(st.one_of(scalars, scalars, scalars, data_scalars), _containers, max_leaves=6)
# Each nameable key is present about half the time; nested objects use the same keys, so paths
# like `a.b` often resolve.
datas = st.fixed_dictionaries({}, optional={key: json_values for key in [*KEYS, *ODD_KEYS[:2]]})

INSTANTS = [
    datetime(2024, 1, 1, tzinfo=UTC),
    datetime(2024, 3, 1, tzinfo=UTC),
    datetime(2024, 3, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]
instants = st.one_of(
    st.sampled_from(INSTANTS),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)),
)


@st.composite
def documents(draw: st.DrawFn, index: int) -> dict:
    return {
        "id": f"d{index}",
        "owner": draw(st.sampled_from([None, "u1", "u2", "' OR 1=1 --"])),
        "data": draw(datas),
        "version": draw(st.integers(0, 4)),
        "created_at": draw(instants),
        "updated_at": draw(instants),
    }


@st.composite
def document_sets(draw: st.DrawFn) -> list[dict]:
    count = draw(st.integers(1, 8))
    return [draw(documents(i)) for i in range(count)]


AUTHS = [
    None,
    {"id": "u1", "email": "a@example.com", "role": "user", "claims": {"team": "t", "admin": True, "level": 3}},
    {"id": "u2", "email": None, "role": "anonymous_user", "claims": {"tags": ["x", 1], "team": None}},
]

# --- expressions -----------------------------------------------------------------------------

paths = st.one_of(
    st.sampled_from(KEYS).map(lambda k: (k,)),
    st.tuples(st.sampled_from(KEYS), st.sampled_from(KEYS)),
)
fields = paths.map(Field)
owns = st.sampled_from([Own(name, kind) for name, kind in DOCUMENT_FIELDS.kinds])
literal_lists = st.lists(st.one_of(scalars, st.lists(scalars, max_size=2).map(tuple)), max_size=3).map(tuple)
consts = st.one_of(scalars, literal_lists).map(Const)
timestamp_strings = st.one_of(
    st.sampled_from(["2024", "2024-03", "2024-03-01", "2024-03-01T00:00:00Z", "2024-03-01T00:00:00.000000Z", "2025"]),
    instants.map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
).map(Const)
variables = st.sampled_from(
    [Auth(()), Auth(("id",)), Auth(("role",)), Auth(("claims", "team")), Auth(("claims", "level")),
     Auth(("claims", "tags")), Now()]
)  # fmt: skip
OPS = ["==", "!=", "<", "<=", ">", ">="]


def _operands(conditions: st.SearchStrategy | None = None) -> st.SearchStrategy:
    simple = st.one_of(fields, fields, owns, consts, timestamp_strings, variables)
    choices = [simple, simple.map(Size)]
    if conditions is not None:
        choices.append(conditions)  # a condition used as a value
    return st.one_of(*choices)


def _either_way(op: str, left: Node, right: Node) -> st.SearchStrategy:
    return st.sampled_from([Compare(op, left, right), Compare(op, right, left)])


def _leaf_conditions(operands: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly the shapes rules and filters have (field against a constant), some of anything."""
    ops = st.sampled_from(OPS)
    list_consts = st.lists(scalars, max_size=4).map(lambda v: Const(tuple(v)))
    small = st.integers(0, 3).map(Const)
    own_timestamps = st.sampled_from([Own("created_at", "timestamp"), Own("updated_at", "timestamp")])
    return st.one_of(
        st.tuples(ops, fields, consts).flatmap(lambda t: _either_way(*t)),
        st.tuples(ops, fields, consts).flatmap(lambda t: _either_way(*t)),
        st.builds(Compare, ops, fields, fields),
        st.builds(Compare, ops, owns, st.one_of(consts, variables, fields)),
        st.builds(Compare, ops, own_timestamps, st.one_of(timestamp_strings, st.just(Now()), own_timestamps)),
        st.builds(Compare, ops, fields.map(Size), small),
        st.builds(In, fields, list_consts),
        st.builds(In, st.one_of(consts, variables, fields), fields),
        st.builds(StartsWith, st.one_of(fields, owns), st.one_of(strings.map(Const), timestamp_strings)),
        st.builds(Exists, fields),
        fields,  # a bare value as a condition
        st.builds(Compare, ops, operands, operands),
        st.builds(In, operands, st.one_of(list_consts, fields, variables)),
        st.builds(StartsWith, operands, st.one_of(strings.map(Const), fields)),
        st.builds(Exists, variables.filter(lambda v: not isinstance(v, Now))),
        # sizes used as conditions: never true (a size is a number or null), also when unsized
        st.one_of(fields, owns, fields.map(Size)).map(Size),
        st.one_of(fields, owns, fields.map(Size)).map(lambda item: Not(Size(item))),
    )


def _compound(children: st.SearchStrategy) -> st.SearchStrategy:
    group = st.lists(children, min_size=2, max_size=3).map(tuple)
    return st.one_of(
        group.map(And),
        group.map(Or),
        children.map(Not),
        st.builds(Compare, st.sampled_from(OPS), children, _operands()),
    )


expressions: st.SearchStrategy[Node] = st.recursive(_leaf_conditions(_operands()), _compound, max_leaves=5)
