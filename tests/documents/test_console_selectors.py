"""The selectors the console's Collections page uses: a rule checked as typed, the rules simulator
(with the clause that decided), and the build state of each declared index."""

from __future__ import annotations

import pytest
from django.db import connection

from baas.errors import InvalidRequest, NotFound, PermissionDenied
from baas.principals import ANONYMOUS, Principal, staff_principal
from baas.rules import RulesError
from documents import selectors, services
from documents.indexes import index_name
from documents.models import Collection

pytestmark = pytest.mark.django_db

STAFF = staff_principal(user_id="1", email="ops@example.com")
ALICE = Principal(kind="user", id="alice", email="alice@example.com", role="user")
BOB = Principal(kind="user", id="bob", email="bob@example.com", role="user")
RULES = {
    "read": "$owner == auth.id || public == true",
    "create": 'auth != null && request.data.title != ""',
    "update": "$owner == auth.id && request.data.title == title",
    "delete": None,
}


@pytest.fixture
def notes() -> str:
    services.create_collection(name="notes", rules=RULES)
    services.create_document(principal=ALICE, collection="notes", data={"title": "mine", "public": False}, doc_id="n1")
    return "notes"


def test_check_rule_answers_with_the_parsers_position() -> None:
    selectors.check_rule(operation="read", text="auth != null")
    with pytest.raises(RulesError) as raised:
        selectors.check_rule(operation="read", text="auth != null &&\n  $owner ==")
    assert (raised.value.line, raised.value.column) == (2, 12)
    with pytest.raises(RulesError):
        selectors.check_rule(operation="delete", text="request.data.x == 1")  # request… only on writes


def test_the_simulator_reads_the_stored_document_and_names_the_deciding_clause(notes: str) -> None:
    def simulate(subject: Principal, operation: str, **kwargs: object) -> dict:
        return selectors.simulate_access(
            principal=STAFF,
            collection=notes,
            operation=operation,
            subject=subject,
            **kwargs,  # type: ignore[arg-type]
        )

    read_by_owner = simulate(ALICE, "read", doc_id="n1")
    assert read_by_owner["allowed"] is True
    assert read_by_owner["clause"] == "($owner == auth.id)"
    read_by_other = simulate(BOB, "read", doc_id="n1")
    assert read_by_other["allowed"] is False
    assert read_by_other["clause"] == "(($owner == auth.id) || (public == true))"

    retitle = simulate(ALICE, "update", doc_id="n1", data={"title": "other"})
    assert retitle["allowed"] is False
    assert retitle["clause"] == "(request.data.title == title)"
    assert (retitle["line"], retitle["column"]) == (1, 22)

    assert simulate(ANONYMOUS, "create", data={"title": "x"})["clause"] == "(auth != null)"
    assert simulate(ALICE, "create", data={"title": "x"})["allowed"] is True

    no_rule = simulate(ALICE, "delete", doc_id="n1")
    assert no_rule["allowed"] is False and no_rule["clause"] is None
    assert "no delete rule" in no_rule["reason"]
    assert simulate(STAFF, "delete", doc_id="n1")["allowed"] is True


def test_the_simulator_agrees_with_the_service(notes: str) -> None:
    answer = selectors.simulate_access(
        principal=STAFF, collection=notes, operation="update", subject=BOB, doc_id="n1", data={"title": "mine"}
    )
    assert answer["allowed"] is False
    with pytest.raises(PermissionDenied):
        services.update_document(principal=BOB, collection=notes, doc_id="n1", data={"title": "mine"})


def test_the_simulator_refuses_what_it_cannot_simulate(notes: str) -> None:
    with pytest.raises(NotFound):
        selectors.simulate_access(principal=STAFF, collection=notes, operation="read", subject=ALICE, doc_id="nope")
    with pytest.raises(InvalidRequest):
        selectors.simulate_access(principal=STAFF, collection=notes, operation="update", subject=ALICE)
    with pytest.raises(InvalidRequest):
        selectors.simulate_access(principal=STAFF, collection=notes, operation="rename", subject=ALICE)


def test_index_states_say_ready_once_built_and_missing_when_gone() -> None:
    services.create_collection(
        name="items", index_specs=[{"fields": ["tag"]}, {"fields": ["-$created_at"], "unique": False}]
    )
    states = selectors.index_states(collection="items")
    assert [(state["fields"], state["state"]) for state in states] == [(["tag"], "ready"), (["-$created_at"], "ready")]

    found = Collection.objects.get(name="items")
    with connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX "{index_name(found, found.indexes[0])}"')
    assert selectors.index_states(collection="items")[0]["state"] == "missing"
