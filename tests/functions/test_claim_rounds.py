"""Claiming invocations in rounds (delivery.claim_round): one transaction claims several of one
function, with the same document-order and concurrency rules as a single claim; a round keeps its
deadline ahead of its runs and lets go of rows the sweep took over. Messages are captured, not
delivered, so the rows stay exactly as the claims leave them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from baas.principals import service_principal
from tests.functions.conftest import deploy

pytestmark = pytest.mark.slow  # a deploy discovers triggers in a sandbox

ON_WRITE = """
from baas_runtime import on_document_written

@on_document_written("notes")
def any_write(event, ctx):
    return None
"""
SERVICE = service_principal(name="tests", key_id="k")


@pytest.fixture
def sent(db: None, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    from functions import sending

    messages: list[Any] = []
    monkeypatch.setattr(sending, "run_invocations", lambda ids, **_: messages.extend(ids))
    return messages


def _invocations(service_api: Any, **config: Any) -> dict[str, Any]:
    """Deploy, write a, b, then update a; dispatch. Returns the invocations by label (a1, b, a2)."""
    from documents import services as documents
    from functions.dispatcher import dispatch
    from functions.models import Invocation

    assert deploy(service_api, "writes", ON_WRITE, permissions=["db:read:notes"], **config).status_code == 201
    documents.create_collection(name="notes")
    documents.create_document(principal=SERVICE, collection="notes", data={}, doc_id="a")
    documents.create_document(principal=SERVICE, collection="notes", data={}, doc_id="b")
    documents.update_document(principal=SERVICE, collection="notes", doc_id="a", data={"n": 2})
    assert dispatch() == 3
    a1, b, a2 = Invocation.objects.order_by("seq")
    return {"a1": a1, "b": b, "a2": a2}


def test_a_round_claims_in_event_order_and_leaves_a_documents_later_event(service_api, sent) -> None:
    from functions import delivery
    from functions.models import Invocation

    rows = _invocations(service_api)
    ids = [rows["a2"].pk, rows["b"].pk, rows["a1"].pk]  # any order in the message
    round_, rest = delivery.claim_round(ids, limit=8)
    assert round_ is not None
    assert [row.pk for row in round_.invocations] == [rows["a1"].pk, rows["b"].pk]
    assert rest == [rows["a2"].pk]  # after a1, in a later round
    states = dict(Invocation.objects.values_list("pk", "status"))
    assert states[rows["a1"].pk] == states[rows["b"].pk] == "running"
    assert states[rows["a2"].pk] == "queued"
    assert all(row.deadline == round_.deadline and row.attempts == 1 for row in round_.invocations)

    # While a1 runs, a2 must wait for it, and says so.
    assert delivery.claim_round(rest, limit=8) == (None, [])
    assert Invocation.objects.get(pk=rows["a2"].pk).waiting == "order"

    recorded = delivery.finish_succeeded([(row, {"ok": True}, "", False) for row in round_.invocations])
    assert recorded == 2
    done = Invocation.objects.get(pk=rows["a1"].pk)
    assert done.status == "succeeded" and done.result == {"ok": True} and done.cold_start is False
    round_, rest = delivery.claim_round([rows["a2"].pk], limit=8)
    assert [row.pk for row in round_.invocations] == [rows["a2"].pk] and rest == []


def test_a_round_takes_no_more_than_the_free_concurrency(service_api, sent) -> None:
    from functions import delivery
    from functions.models import Invocation

    rows = _invocations(service_api, concurrency=1)
    round_, rest = delivery.claim_round([rows["a1"].pk, rows["b"].pk], limit=8)
    assert [row.pk for row in round_.invocations] == [rows["a1"].pk]
    assert rest == [rows["b"].pk]
    assert delivery.claim_round(rest, limit=8) == (None, [])
    assert Invocation.objects.get(pk=rows["b"].pk).waiting == "concurrency"
    assert Invocation.objects.filter(status="running").count() == 1


def test_a_round_moves_its_deadline_before_a_run_that_could_outlive_it(service_api, sent) -> None:
    from functions import delivery
    from functions.models import Invocation

    rows = _invocations(service_api)
    round_, _ = delivery.claim_round([rows["a1"].pk, rows["b"].pk], limit=8)
    claimed = round_.invocations
    assert delivery.keep_round(round_, claimed) == claimed  # far enough: nothing to do
    # As if the round had run for a long time: its deadline is near now.
    near = timezone.now() + timedelta(seconds=1)
    Invocation.objects.filter(pk__in=[row.pk for row in claimed]).update(deadline=near)
    round_.deadline = near
    kept = delivery.keep_round(round_, claimed)
    assert [row.pk for row in kept] == [row.pk for row in claimed]
    assert round_.deadline > near + timedelta(seconds=5)
    assert set(Invocation.objects.filter(status="running").values_list("deadline", flat=True)) == {round_.deadline}

    # The sweep took b over meanwhile (re-queued it after a stall): the round lets go of it.
    Invocation.objects.filter(pk=rows["b"].pk).update(status="queued", deadline=None)
    near = timezone.now() + timedelta(seconds=1)
    Invocation.objects.filter(pk=rows["a1"].pk).update(deadline=near)
    round_.deadline = near
    assert [row.pk for row in delivery.keep_round(round_, claimed)] == [rows["a1"].pk]
