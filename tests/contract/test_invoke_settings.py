"""Who may invoke a function: its `invoke` setting against every persona, through a real worker and the
bubblewrap sandbox (docs/functions.md: `service` — service keys and staff only, the default;
`authenticated` — plus signed-in users, anonymous accounts included; `public` — anyone).

An allowed caller gets 200 with the result, and the handler sees exactly that caller as
`event["auth"]`; logs are for the function's owner (service role, staff) only. A refused caller
gets 401 `not_authenticated` without credentials, 403 `permission_denied` with them, and nothing
runs. One function per setting, one call per persona: 12 runs in all.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import bearer
from tests.contract.resources import Expect, everyone, only_admins, signed_in
from tests.contract.test_resource_table import assert_error_shape
from tests.contract.world import (
    ANONYMOUS,
    ANONYMOUS_USER,
    ECHO,
    OTHER,
    PERSONAS,
    SERVICE,
    STAFF,
    USER,
    World,
    world_fixture,
)
from tests.functions.conftest import function_worker  # noqa: F401 (a fixture)

SETTINGS: dict[str, Expect] = {
    "service": only_admins(200),
    "authenticated": signed_in(200),
    "public": everyone(200),
}


@pytest.fixture(scope="module")
def invokers(
    django_db_setup: None,
    django_db_blocker: Any,
    function_worker: Any,  # noqa: F811
) -> Iterator[World]:
    """The personas, and one committed function per `invoke` setting, named after it."""
    for world in world_fixture(django_db_blocker, resources=False):
        with django_db_blocker.unblock():
            admin = bearer(world.tokens[SERVICE])
            for setting in SETTINGS:
                name = f"invoke-{setting}"
                # A long timeout: the invoke answer waits timeout + grace, and a cold sandbox on a busy
                # machine may take more than the default 10 s to start.
                body = {"name": name, "files": {"main.py": textwrap.dedent(ECHO)}, "invoke": setting, "timeout": 60}
                response = admin.post("/v1/functions", body, format="json")
                assert response.status_code == 201, response.content
                world.functions.append(name)
        yield world


@pytest.fixture
def committed(django_db_blocker: Any) -> Iterator[None]:
    """Database access without a wrapping transaction: the worker must see the invocation rows.
    The module's world fixture flushes them at its end."""
    with django_db_blocker.unblock():
        yield


CASES = [(setting, persona) for setting in SETTINGS for persona in PERSONAS]


@pytest.mark.parametrize(("setting", "persona"), CASES, ids=[f"{s} as {p}" for s, p in CASES])
def test_the_invoke_setting_decides_who_may_call(setting: str, persona: str, invokers: World, committed: None) -> None:
    from functions.models import Invocation

    name = f"invoke-{setting}"
    before = Invocation.objects.filter(function__name=name).count()
    response = invokers.client(persona).post(f"/v1/functions/{name}/invoke", {"payload": [persona]}, format="json")
    expected = SETTINGS[setting][persona]
    assert response.status_code == expected, (response.status_code, response.content[:500])
    if expected != 200:
        error = assert_error_shape(response)
        assert error["code"] == ("not_authenticated" if persona == ANONYMOUS else "permission_denied")
        assert Invocation.objects.filter(function__name=name).count() == before, "a refused call ran"
        return
    body = response.json()
    assert body["invocation"]["status"] == "succeeded", body
    assert body["result"]["payload"] == [persona]
    caller = body["result"]["caller"]
    if persona == ANONYMOUS:
        assert caller is None
    elif persona == SERVICE:
        assert caller["kind"] == "service" and caller["role"] == "service"
    elif persona == STAFF:
        assert caller["kind"] == "staff" and caller["role"] == "service"
    else:
        role = "anonymous_user" if persona == ANONYMOUS_USER else "user"
        assert caller == {"kind": "user", "role": role, "id": invokers.users[persona]["id"]}
    owner = persona in (SERVICE, STAFF)
    assert (body["invocation"]["logs"] is not None) == owner, body["invocation"]


@pytest.mark.django_db  # also makes pytest-django set the test database up when this module runs alone
def test_the_default_invoke_setting_is_service(invokers: World) -> None:
    admin = invokers.client(SERVICE)
    body = {"name": "invoke-default", "files": {"main.py": textwrap.dedent(ECHO)}}
    deployed = admin.post("/v1/functions", body, format="json")
    assert deployed.status_code == 201, deployed.content
    assert deployed.json()["invoke"] == "service"
    response = invokers.client(USER).post("/v1/functions/invoke-default/invoke", {"payload": 1}, format="json")
    assert response.status_code == 403
    assert assert_error_shape(response)["code"] == "permission_denied"


def test_the_caller_answered_202_reads_its_invocation_and_nobody_else_learns_of_it(
    invokers: World, committed: None
) -> None:
    """A 202 (an async call, or a synchronous one that did not finish in time) carries no result:
    the principal who invoked fetches it from GET /v1/invocations/{id} — status, result and the
    public error, never the logs. Another user gets 404 (not 403: existence is not revealed)."""
    import time

    user = invokers.client(USER)
    answer = user.post("/v1/functions/invoke-authenticated/invoke?async=true", {"payload": "later"}, format="json")
    assert answer.status_code == 202, answer.content
    url = f"/v1/invocations/{answer.json()['invocation']['id']}"
    deadline = time.monotonic() + 90
    while True:
        response = user.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        if body["status"] in ("succeeded", "failed", "dead") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert body["status"] == "succeeded", body
    assert body["result"] == {
        "payload": "later",
        "caller": {"kind": "user", "role": "user", "id": invokers.users[USER]["id"]},
    }
    assert body["logs"] is None and body["error"] is None
    for stranger in (OTHER, ANONYMOUS_USER):
        refused = invokers.client(stranger).get(url)
        assert refused.status_code == 404, refused.content
        assert assert_error_shape(refused)["code"] == "not_found"
    assert invokers.client(ANONYMOUS).get(url).status_code == 401
    owner_view = invokers.client(SERVICE).get(url).json()
    assert owner_view["logs"] is not None and owner_view["result"] == body["result"]
