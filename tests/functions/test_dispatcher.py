"""The dispatcher, in this process: one invocation per (function, handler, event) however often it
runs, nothing lost or doubled by a crash between creating invocations and moving the cursor, and
triggers refused at deploy when they could never fire."""

from __future__ import annotations

from typing import Any

import pytest

from baas.principals import service_principal
from tests.functions.conftest import deploy

pytestmark = pytest.mark.slow  # deploys functions: each deploy starts a sandbox (tests/process_level.py)

ON_NOTES = """
from baas_runtime import on_document_created, on_document_written

@on_document_created("notes", filter="important == true")
def important(event, ctx):
    pass

@on_document_written("notes")
def any_write(event, ctx):
    pass
"""


@pytest.fixture
def sent(db: None, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    from functions import sending

    messages: list[Any] = []
    monkeypatch.setattr(sending, "run_invocations", lambda ids, **_: messages.extend(ids))
    return messages


SERVICE = service_principal(name="tests", key_id="k")


def _notes(*items: dict[str, Any]) -> None:
    from documents import services as documents

    documents.create_collection(name="notes")
    for data in items:
        documents.create_document(principal=SERVICE, collection="notes", data=data)


def test_a_repeated_dispatch_never_invokes_twice(service_api, sent: list[Any]) -> None:
    from functions.dispatcher import dispatch
    from functions.models import DispatchCursor, Invocation

    assert deploy(service_api, "notes-fn", ON_NOTES, permissions=["db:read:notes"]).status_code == 201
    _notes({"important": True}, {"important": False}, {"n": 3})
    assert dispatch() == 4  # 3 writes + the one important create
    assert sorted(Invocation.objects.values_list("handler", flat=True)) == ["any_write"] * 3 + ["important"]
    assert len(sent) == 4

    DispatchCursor.objects.update(seq=0)  # as if the cursor had been lost
    dispatch()
    assert Invocation.objects.count() == 4


def test_a_crash_before_the_cursor_moves_loses_and_doubles_nothing(
    service_api, sent: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions import dispatcher
    from functions.models import DispatchCursor, Invocation

    deploy(service_api, "notes-fn", ON_NOTES, permissions=["db:read:notes"])
    _notes({"important": True}, {"important": True})
    real_save = DispatchCursor.save

    def crash(self: DispatchCursor, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("update_fields"):
            raise RuntimeError("the dispatcher died here")
        real_save(self, *args, **kwargs)

    monkeypatch.setattr(DispatchCursor, "save", crash)
    with pytest.raises(RuntimeError):
        dispatcher.dispatch()
    assert Invocation.objects.count() == 0 and sent == []
    monkeypatch.setattr(DispatchCursor, "save", real_save)
    assert dispatcher.dispatch() == 4
    assert Invocation.objects.count() == 4


def test_a_deep_causation_chain_is_recorded_as_loop_detected(service_api, sent: list[Any], settings: Any) -> None:
    from baas.events import Causation
    from documents import services as documents
    from functions.dispatcher import dispatch
    from functions.models import Invocation

    settings.FUNCTIONS_MAX_DEPTH = 3
    deploy(service_api, "notes-fn", ON_NOTES, permissions=["db:read:notes"])
    _notes()
    for depth in (3, 4):
        documents.create_document(
            principal=SERVICE, collection="notes", data={"depth": depth}, causation=Causation("x", depth)
        )
    dispatch()
    rows = {row.depth: row for row in Invocation.objects.all()}
    assert rows[3].status == "queued" and rows[3].error is None
    assert rows[4].status == "failed" and rows[4].error["code"] == "loop_detected"
    assert [str(rows[3].pk)] == [str(i) for i in sent]  # the stopped one is never queued


@pytest.mark.parametrize(
    ("decorator", "code"),
    [
        ('on_document_created("notes", filter="important ==")', "invalid_filter"),
        ('on_schedule("61 * * * *")', "invalid_schedule"),
        ('on_schedule("0 * * * *", timezone="Mars/Olympus")', "invalid_schedule"),
    ],
)
def test_a_trigger_that_could_never_fire_fails_the_deploy(service_api, decorator: str, code: str) -> None:
    source = f"""
from baas_runtime import on_document_created, on_schedule

@{decorator}
def handler(event, ctx):
    pass
"""
    response = deploy(service_api, "bad-fn", source, permissions=["db:read:*"])
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["details"]["triggers"][0]["code"] == code
    assert service_api.get("/v1/functions/bad-fn").status_code == 404


def test_schedules_follow_deploys_rollbacks_and_delete(service_api) -> None:
    from django_celery_beat.models import PeriodicTask

    with_schedule = """
from baas_runtime import on_schedule

@on_schedule("*/5 * * * *", timezone="Europe/Paris")
def every_five(event, ctx):
    pass

@on_schedule(every=30)
def often(event, ctx):
    pass
"""
    assert deploy(service_api, "cron-fn", with_schedule).status_code == 201
    tasks = {task.name: task for task in PeriodicTask.objects.filter(name__startswith="functions:cron-fn:")}
    assert set(tasks) == {"functions:cron-fn:every_five", "functions:cron-fn:often"}
    crontab = tasks["functions:cron-fn:every_five"].crontab
    assert (crontab.minute, str(crontab.timezone)) == ("*/5", "Europe/Paris")
    assert tasks["functions:cron-fn:often"].interval.every == 30
    assert tasks["functions:cron-fn:often"].task == "functions.fire_schedule"

    deploy(service_api, "cron-fn", "from baas_runtime import on_http\n\n@on_http\ndef h(event, ctx):\n    pass\n")
    assert not PeriodicTask.objects.filter(name__startswith="functions:cron-fn:").exists()
    assert service_api.post("/v1/functions/cron-fn/rollback", {"version": 1}, format="json").status_code == 200
    assert PeriodicTask.objects.filter(name__startswith="functions:cron-fn:").count() == 2
    assert service_api.delete("/v1/functions/cron-fn").status_code == 204
    assert not PeriodicTask.objects.filter(name__startswith="functions:cron-fn:").exists()
