"""The semantics of docs/rules.md as a table: (expression, data, whether it holds).

Both compilers are checked against every row: test_predicate_semantics.py without a database,
test_sql_semantics.py in the database.
"""

from __future__ import annotations

from datetime import UTC, datetime

CREATED = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
UPDATED = datetime(2024, 3, 2, 8, 30, 0, 250000, tzinfo=UTC)
NOW = datetime(2024, 6, 1, tzinfo=UTC)
USER = {"id": "u1", "email": "u1@example.com", "role": "user", "claims": {"admin": True, "team": "red"}}


def document(data: dict, owner: str | None = "u1") -> dict:
    return {"id": "doc1", "owner": owner, "data": data, "version": 3, "created_at": CREATED, "updated_at": UPDATED}


ROWS: list[tuple[str, dict, bool]] = [
    # equality: same kind and value; a number never equals a string; a boolean is not a number
    ("n == 1", {"n": 1}, True),
    ("n == 1", {"n": 1.0}, True),
    ("n == 1.0", {"n": 1}, True),
    ("n == 1", {"n": "1"}, False),
    ("n == '1'", {"n": 1}, False),
    ("n == 1", {"n": True}, False),
    ("n == true", {"n": 1}, False),
    ("n == 0", {"n": False}, False),
    ("n != 1", {"n": "1"}, True),
    ("s == 'Abc'", {"s": "abc"}, False),  # case matters
    ("s == 'é'", {"s": "e\u0301"}, False),  # no Unicode normalization
    ("l == [1, 'a']", {"l": [1.0, "a"]}, True),
    ("l == [1, 'a']", {"l": ["a", 1]}, False),
    ("l == [true]", {"l": [1]}, False),
    ("o == auth.claims", {"o": {"team": "red", "admin": True}}, True),  # objects: keys in any order
    # missing is not null: a missing field equals nothing; exists() tests presence
    ("x == null", {"x": None}, True),
    ("x == null", {}, False),
    ("x != null", {}, True),
    ("x != 1", {}, True),
    ("x == y", {}, False),
    ("x == y", {"x": None, "y": None}, True),
    ("exists(x)", {"x": None}, True),
    ("exists(x)", {}, False),
    ("exists(a.b)", {"a": {"b": 0}}, True),
    ("exists(a.b)", {"a": [{"b": 0}]}, False),  # paths follow objects only
    ("a.b == 1", {"a": "text"}, False),
    # ordering: numbers with numbers, strings with strings (code points); anything else is false
    ("n < 2", {"n": 1.5}, True),
    ("n < 2", {"n": "1"}, False),
    ("n >= null", {"n": None}, False),
    ("n <= n", {"n": None}, False),
    ("n > false", {"n": True}, False),
    ("s < 'b'", {"s": "a"}, True),
    ("s > 'a'", {"s": "B"}, False),
    ("s < 'b'", {"s": "B"}, True),  # uppercase sorts before lowercase
    ("s > 'z'", {"s": "é"}, True),  # code point order, not a locale's
    ("s < 'ab'", {"s": "a"}, True),
    ("l < [2]", {"l": [1]}, False),
    ("!(n < 2)", {"n": "x"}, True),
    # in / contains: a list with an equal element; anything else is false
    ("n in [1, 2]", {"n": 2.0}, True),
    ("n in [1, 2]", {"n": "2"}, False),
    ("n in [null]", {"n": None}, True),
    ("n in [null]", {}, False),
    ("n in []", {"n": 1}, False),
    ("tags contains 'x'", {"tags": ["x", "y"]}, True),
    ("tags contains 'x'", {"tags": "x"}, False),
    ("tags contains 'x'", {"tags": "xyz"}, False),
    ("tags contains 'x'", {"tags": {"x": 1}}, False),
    ("tags contains 'x'", {"tags": [["x"]]}, False),
    ("tags contains ['x']", {"tags": [["x"]]}, True),
    ("'x' in tags", {"tags": ["x"]}, True),
    ("auth.id in editors", {"editors": ["u2", "u1"]}, True),
    ("tags contains n", {"tags": [1, 2], "n": 2}, True),
    ("tags contains n", {"tags": [None]}, False),
    # size(): characters, elements, keys; null for anything else
    ("size(s) == 3", {"s": "abc"}, True),
    ("size(s) == 2", {"s": "😀é"}, True),  # characters, not bytes
    ("size(l) == 2", {"l": [1, [2, 3]]}, True),
    ("size(o) == 1", {"o": {"k": {"a": 1}}}, True),
    ("size(n) == null", {"n": 12}, True),
    ("size(x) == null", {}, True),
    ("size(x) > 0", {}, False),
    ("size($id) == 4", {}, True),
    ("size($created_at) == 27", {}, True),
    # starts_with(): strings only, case-sensitive
    ("starts_with(s, 'ab')", {"s": "abc"}, True),
    ("starts_with(s, 'AB')", {"s": "abc"}, False),
    ("starts_with(s, '')", {"s": ""}, True),
    ("starts_with(s, '1')", {"s": 12}, False),
    ("starts_with(s, p)", {"s": "abc", "p": "a"}, True),
    ("starts_with(s, p)", {"s": "abc", "p": 1}, False),
    # conditions: a value holds only if it is true; ! of anything else is true
    ("flag", {"flag": True}, True),
    ("flag", {"flag": 1}, False),
    ("flag", {"flag": "true"}, False),
    ("!flag", {"flag": "yes"}, True),
    ("!flag", {}, True),
    ("(n == 1) == true", {"n": 1}, True),
    ("(n == 1) == (m == 1)", {}, True),
    ("flag && true", {"flag": True}, True),
    ("flag || x", {}, False),
    # own fields
    ("$id == 'doc1'", {}, True),
    ("$owner == auth.id", {}, True),
    ("$owner == 'U1'", {}, False),
    ("$version >= 3 && $version < 4", {}, True),
    ("$version == '3'", {}, False),
    # timestamps are canonical RFC 3339 strings: UTC, six fraction digits, 'Z'
    ("$created_at == '2024-03-01T12:00:00.000000Z'", {}, True),
    ("$created_at == '2024-03-01T12:00:00Z'", {}, False),
    ("$created_at > '2024-03'", {}, True),
    ("$created_at < '2024-03-01T12:00:00.000001Z'", {}, True),
    ("$created_at <= '2024-03-01T12:00:00.000000Z'", {}, True),
    ("$created_at < '2024-03-01T12:00:00Z'", {}, True),  # '.' sorts before 'Z'
    ("starts_with($updated_at, '2024-03-02T08:30:00.25')", {}, True),
    ("$updated_at > $created_at", {}, True),
    ("$created_at < now", {}, True),
    ("expires > now", {"expires": "2024-07-01T00:00:00.000000Z"}, True),
    ("expires > now", {"expires": "2024-05-31"}, False),
    ("$created_at == 1709294400", {}, False),
    # auth
    ("auth != null", {}, True),
    ("auth.role == 'user'", {}, True),
    ("auth.claims.admin == true", {}, True),
    ("auth.claims.team in ['red', 'blue']", {}, True),
    ("exists(auth.claims.nope)", {}, False),
    ("auth.claims.nope == null", {}, False),
]

# The same expressions for an anonymous caller (auth is None): auth.… is missing, equal to nothing.
ANONYMOUS_ROWS: list[tuple[str, dict, bool]] = [
    ("auth == null", {}, True),
    ("auth != null", {}, False),
    ("$owner == auth.id", {}, False),
    ("owner == auth.id", {}, False),
    ("auth.id in editors", {"editors": [None]}, False),
    ("auth.id != 'u1'", {}, True),
    ("auth.claims.admin == true", {}, False),
    ("!(auth.claims.admin == true)", {}, True),
    ("exists(auth)", {}, True),
    ("exists(auth.id)", {}, False),
]
