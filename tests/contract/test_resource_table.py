"""Generic contract checks over every resource (NetBox's utilities/testing/api.py, as a table).

- every `/v1/…` route and method of the URL configuration has exactly one row in
  tests/contract/resources.py;
- every row and persona gets its expected status, and every error answer has the one error shape
  with a code whose documented status (docs/errors.md) is the answer's status;
- every JSON body refuses an unknown field with 400 `validation_error` / `unknown_field` and
  changes nothing;
- every list route answers `{items, next_cursor}`, pages with `?limit=1`, refuses a tampered cursor
  and a limit outside 1…1000.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver

from tests.contract.resources import ROWS, Row
from tests.contract.world import ANONYMOUS, PERSONAS, SERVICE, STAFF, USER, World

DOCS = Path(__file__).resolve().parents[2] / "docs"

# --- the URL configuration ----------------------------------------------------------------------


def _route_text(pattern: Any) -> str:
    """A URL pattern as `{name}` placeholders: `<str:name>` and `(?P<name>…)` alike."""
    text = str(pattern).removeprefix("^").removesuffix("$")
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", text)
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)


def _walk(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry, prefix + _route_text(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield "/" + prefix + _route_text(entry.pattern), entry.callback


def _methods(callback: Any) -> list[str] | None:
    """The methods a view implements (OPTIONS aside: CORS preflights answer it for every path)."""
    view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view is None:
        return None
    return [name.upper() for name in view.http_method_names if name != "options" and hasattr(view, name)]


def api_routes() -> dict[tuple[str, str], str]:
    """Every (route, method) under /v1/, or ("<route>", "?") for a view whose methods are unknown."""
    found: dict[tuple[str, str], str] = {}
    for route, callback in _walk(get_resolver()):
        if not route.startswith("/v1/"):
            continue
        methods = _methods(callback)
        view = getattr(callback, "view_class", None) or getattr(callback, "cls", None) or callback
        name = f"{callback.__module__}.{view.__name__}"
        for method in methods if methods is not None else ["?"]:
            found[(route, method)] = name
    return found


def test_every_route_has_exactly_one_row() -> None:
    routes = api_routes()
    keys = [row.key for row in ROWS]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    assert not duplicates, f"routes with more than one row in tests/contract/resources.py: {duplicates}"
    missing = [f"{method} {route} ({view})" for (route, method), view in routes.items() if (route, method) not in keys]
    assert not missing, (
        "routes of the URL configuration without a row in tests/contract/resources.py "
        f"(add one: path, method, valid body, expected status per persona): {missing}"
    )
    stale = [f"{method} {route}" for route, method in keys if (route, method) not in routes]
    assert not stale, f"rows of tests/contract/resources.py for routes that do not exist: {stale}"


def test_every_row_names_every_persona() -> None:
    incomplete = [row.id for row in ROWS if set(row.expect) != set(PERSONAS)]
    assert not incomplete, incomplete


# --- docs/errors.md: code → status --------------------------------------------------------------


def documented_statuses() -> dict[str, int]:
    """The "Request codes" table of docs/errors.md: every code (a cell may name several) → status."""
    text = (DOCS / "errors.md").read_text()
    section = text.split("## Request codes", 1)[1].split("\n## ", 1)[0]
    statuses: dict[str, int] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[1].isdigit():
            continue
        for code in re.findall(r"`([a-z_]+)`", cells[0]):
            statuses[code] = int(cells[1])
    return statuses


STATUSES = documented_statuses()
REFUSAL_CODES = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}


def test_the_errors_table_parses() -> None:
    assert STATUSES["not_found"] == 404 and STATUSES["validation_error"] == 400
    assert len(STATUSES) >= 25


def assert_error_shape(response: Any) -> dict[str, Any]:
    """The one error envelope, a string code, and the status docs/errors.md gives that code."""
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and isinstance(error["message"], str), error
    assert isinstance(error["details"], dict), error
    assert error["code"] in STATUSES, f"{error['code']!r} is not documented in docs/errors.md"
    assert STATUSES[error["code"]] == response.status_code, (
        f"{error['code']!r} answered {response.status_code}; docs/errors.md says {STATUSES[error['code']]}"
    )
    return error


# --- sending a row ------------------------------------------------------------------------------


def send(row: Row, world: World, client: Any, prepared: Any = None, extra: dict[str, Any] | None = None) -> Any:
    path = row.path(world)
    method = getattr(client, row.method.lower())
    body = row.body(world, prepared) if row.body else None
    if row.multipart:
        upload = SimpleUploadedFile("upload.txt", body, content_type="text/plain")
        return method(path, {"file": upload}, format="multipart")
    if row.content_type:
        return method(path, body, content_type=row.content_type)
    if body is not None:
        return method(path, {**body, **(extra or {})}, format="json")
    return method(path)


def expectation(row: Row, persona: str) -> tuple[int, str | None]:
    expected = row.expect[persona]
    if isinstance(expected, tuple):
        return expected
    return expected, REFUSAL_CODES.get(expected)


def allowed(row: Row, persona: str) -> bool:
    return 200 <= expectation(row, persona)[0] < 300


def _ids(row: Row, persona: str) -> str:
    return f"{row.method} {row.route} as {persona}"


MATRIX = [(row, persona) for row in ROWS for persona in PERSONAS]


@pytest.mark.django_db
@pytest.mark.slow  # the world deploys functions: bubblewrap sandboxes
@pytest.mark.parametrize(("row", "persona"), MATRIX, ids=[_ids(*case) for case in MATRIX])
def test_persona_gets_the_expected_answer(row: Row, persona: str, world: World, tools: Any) -> None:
    client = world.client(persona)
    prepared = row.prepare(world, tools) if row.prepare else None
    response = send(row, world, client, prepared)
    expected, code = expectation(row, persona)
    assert response.status_code == expected, (response.status_code, response.content[:300])
    if expected >= 400 and row.method != "HEAD":
        error = assert_error_shape(response)
        assert error["code"] == code, error


# --- unknown body fields ------------------------------------------------------------------------


def _writer(row: Row) -> str:
    """The persona whose valid body the row's writes are checked with: an allowed one."""
    return next(persona for persona in (SERVICE, USER, STAFF, ANONYMOUS) if allowed(row, persona))


JSON_WRITES = [row for row in ROWS if row.json_body and row.body and row.method in ("POST", "PUT", "PATCH")]


# Bookkeeping that a refused request may move: when a credential was last used, console sessions.
VOLATILE_FIELDS = {"last_used_at", "last_login", "expire_date", "session_data"}


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every model (the world is small), bookkeeping fields aside."""
    state = {}
    for model in apps.get_models():
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in VOLATILE_FIELDS]
        state[model._meta.label] = list(model._default_manager.order_by("pk").values(*fields))
    return state


@pytest.mark.django_db
@pytest.mark.slow  # the world deploys functions: bubblewrap sandboxes
@pytest.mark.parametrize("row", JSON_WRITES, ids=[row.id for row in JSON_WRITES])
def test_an_unknown_body_field_is_refused_and_changes_nothing(row: Row, world: World, tools: Any) -> None:
    client = world.client(_writer(row))
    prepared = row.prepare(world, tools) if row.prepare else None
    before = snapshot()
    response = send(row, world, client, prepared, extra={"zzz_unknown": 1})
    assert response.status_code == 400, (response.status_code, response.content[:300])
    error = assert_error_shape(response)
    assert error["code"] == "validation_error", error
    assert error["details"]["zzz_unknown"][0]["code"] == "unknown_field", error
    after = snapshot()
    changed = {label: rows for label, rows in after.items() if rows != before[label]}
    assert not changed, f"a refused body changed {sorted(changed)}"


# --- pagination ---------------------------------------------------------------------------------

LISTS = [row for row in ROWS if row.lists]


def identities(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What names an item of any list (an invocation's status may move on between two pages)."""
    return [tuple(item.get(key) for key in ("id", "name", "path", "function", "version")) for item in items]


def _get(world: World, row: Row, query: str) -> Any:
    path = row.path(world)
    return world.client(SERVICE).get(f"{path}{'&' if '?' in path else '?'}{query}")


@pytest.mark.django_db
@pytest.mark.slow  # the world deploys functions: bubblewrap sandboxes
@pytest.mark.parametrize("row", LISTS, ids=[row.id for row in LISTS])
def test_a_list_pages_with_a_cursor(row: Row, world: World) -> None:
    whole = _get(world, row, "limit=1000")
    assert whole.status_code == 200, whole.content[:300]
    assert set(whole.json()) == {"items", "next_cursor"}, whole.json()
    items = whole.json()["items"]
    assert isinstance(items, list) and len(items) >= 2, "the world must hold two items of every list"
    assert whole.json()["next_cursor"] is None

    first = _get(world, row, "limit=1").json()
    assert identities(first["items"]) == identities(items[:1]) and isinstance(first["next_cursor"], str)
    second = _get(world, row, f"limit=1&cursor={first['next_cursor']}").json()
    assert identities(second["items"]) == identities(items[1:2])


@pytest.mark.django_db
@pytest.mark.slow  # the world deploys functions: bubblewrap sandboxes
@pytest.mark.parametrize("row", LISTS, ids=[row.id for row in LISTS])
def test_a_list_refuses_a_tampered_cursor_and_a_bad_limit(row: Row, world: World) -> None:
    cursor = _get(world, row, "limit=1").json()["next_cursor"] or "bm90IG91cnM"
    for query in (f"cursor={cursor[:-2]}!!", f"cursor=x{cursor}", "limit=0", "limit=1001", "limit=x"):
        response = _get(world, row, query)
        assert response.status_code == 400, (query, response.content[:300])
        assert assert_error_shape(response)["code"] == "invalid_request", query


# --- unknown resources --------------------------------------------------------------------------

# Names that are not secret: an unknown collection, bucket or function is 404 for every caller
# (API.md; docs/storage.md "Existence of objects"; docs/functions.md documents no hiding either).
UNKNOWN = [
    ("GET", "/v1/db/nothing_here"),
    ("GET", "/v1/db/nothing_here/some-id"),
    ("GET", "/v1/storage/objects/nothing-here"),
    ("GET", "/v1/storage/objects/nothing-here/a.txt"),
    ("POST", "/v1/functions/nothing-here/invoke"),
]


@pytest.mark.django_db
@pytest.mark.slow  # the world deploys functions: bubblewrap sandboxes
@pytest.mark.parametrize("persona", PERSONAS)
def test_an_unknown_collection_bucket_or_function_is_404_for_everyone(persona: str, world: World) -> None:
    client = world.client(persona)
    for method, path in UNKNOWN:
        response = getattr(client, method.lower())(path, {}, format="json") if method == "POST" else client.get(path)
        assert response.status_code == 404, (method, path, response.content[:300])
        assert assert_error_shape(response)["code"] == "not_found"
