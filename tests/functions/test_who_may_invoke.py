"""Who may call a function's @on_http handler: the active version's `invoke` setting, per persona,
through a real worker and real sandboxes. `service` (the default) admits the service role and
staff; `authenticated` adds signed-in users (an anonymous account signed in counts: it has a
token); `public` adds anyone. A refused call records and queues nothing."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import bearer
from tests.functions.conftest import deploy, invoke

WHO = """
from baas_runtime import on_http

@on_http
def who(event, ctx):
    return {"auth": event["auth"], "payload": event["payload"]}
"""


def _invocations(name: str) -> int:
    from functions.models import Invocation

    return Invocation.objects.filter(function__name=name).count()


@pytest.fixture
def members(functions_api: APIClient) -> APIClient:
    response = deploy(functions_api, "members", WHO, invoke="authenticated")
    assert response.status_code == 201, response.json()
    assert response.json()["invoke"] == "authenticated"
    return functions_api


@pytest.fixture
def internal(functions_api: APIClient) -> APIClient:
    response = deploy(functions_api, "internal", WHO)  # invoke: "service", the default
    assert response.status_code == 201, response.json()
    assert response.json()["invoke"] == "service"
    return functions_api


@pytest.fixture
def guest() -> dict[str, Any]:
    """A signed-in anonymous account (`POST /v1/auth/anonymous`): role `anonymous_user`."""
    response = APIClient().post("/v1/auth/anonymous", {}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_signed_in_user_invokes_an_authenticated_function_as_themselves(members, alice, alice_api) -> None:  # type: ignore[no-untyped-def]
    response = invoke(alice_api, "members", {"n": 1})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["invocation"]["status"] == "succeeded"
    assert body["result"]["payload"] == {"n": 1}
    auth = body["result"]["auth"]
    assert auth["kind"] == "user" and auth["role"] == "user"
    assert auth["id"] == alice["user"]["id"] and auth["email"] == "alice@example.com"
    # A caller, not the owner: the result, never the logs.
    assert body["invocation"]["logs"] is None


def test_another_user_invokes_it_as_themselves_too(members, alice, bob, bob_api) -> None:  # type: ignore[no-untyped-def]
    auth = invoke(bob_api, "members", 2).json()["result"]["auth"]
    assert auth["id"] == bob["user"]["id"] != alice["user"]["id"]


def test_a_signed_in_anonymous_account_counts_as_authenticated(members, guest) -> None:  # type: ignore[no-untyped-def]
    response = invoke(bearer(guest["access"]), "members", 3)
    assert response.status_code == 200, response.json()
    auth = response.json()["result"]["auth"]
    assert auth["id"] == guest["user"]["id"] and auth["role"] == "anonymous_user"


def test_an_anonymous_caller_is_refused_and_nothing_is_recorded(members, api) -> None:  # type: ignore[no-untyped-def]
    response = invoke(api, "members", 4)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert invoke(api, "members", 4, **{"async": "true"}).status_code == 401
    assert _invocations("members") == 0


def test_a_broken_token_is_refused_not_taken_for_anonymous(members) -> None:  # type: ignore[no-untyped-def]
    response = invoke(bearer("not-a-token"), "members", 5)
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_invalid"
    assert _invocations("members") == 0


def test_the_async_answer_of_a_user_hides_the_logs(members, alice_api) -> None:  # type: ignore[no-untyped-def]
    from functions.waiting import wait_for

    response = invoke(alice_api, "members", 6, **{"async": "true"})
    assert response.status_code == 202
    queued = response.json()["invocation"]
    assert queued["status"] == "queued" and queued["logs"] is None
    assert wait_for(queued["id"], 15).status == "succeeded"
    # The caller reads its own invocation (that is how a 202 gets its result), without the logs.
    record = alice_api.get(f"/v1/invocations/{queued['id']}")
    assert record.status_code == 200, record.content
    assert record.json()["status"] == "succeeded" and record.json()["logs"] is None
    assert record.json()["result"] is not None and record.json()["id"] == queued["id"]


def test_a_service_only_function_refuses_users_and_anonymous(internal, alice_api, guest, api) -> None:  # type: ignore[no-untyped-def]
    for client in (alice_api, bearer(guest["access"])):
        refused = invoke(client, "internal", 1)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    anonymous = invoke(api, "internal", 1)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"
    assert _invocations("internal") == 0


def test_the_owner_invokes_whatever_the_setting(internal, members, csrf_staff_api) -> None:  # type: ignore[no-untyped-def]
    for name in ("internal", "members"):
        service_answer = invoke(internal, name, 7)
        assert service_answer.status_code == 200, service_answer.json()
        assert service_answer.json()["result"]["auth"]["kind"] == "service"
        assert service_answer.json()["invocation"]["logs"] == ""
        staff_answer = invoke(csrf_staff_api, name, 8)
        assert staff_answer.status_code == 200, staff_answer.json()
        assert staff_answer.json()["result"]["auth"]["kind"] == "staff"


def test_rolling_back_changes_who_may_invoke(functions_api, alice_api) -> None:  # type: ignore[no-untyped-def]
    assert deploy(functions_api, "switch", WHO, invoke="authenticated").status_code == 201
    assert deploy(functions_api, "switch", WHO).status_code == 201  # version 2: service only
    assert invoke(alice_api, "switch", 1).status_code == 403
    assert functions_api.post("/v1/functions/switch/rollback", {"version": 1}, format="json").status_code == 200
    assert invoke(alice_api, "switch", 1).status_code == 200


def test_an_unknown_function_is_404_for_a_user(members, alice_api) -> None:  # type: ignore[no-untyped-def]
    response = invoke(alice_api, "nobody", 1)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_a_user_gets_unknown_body_fields_refused(members, alice_api) -> None:  # type: ignore[no-untyped-def]
    response = alice_api.post("/v1/functions/members/invoke", {"payload": 1, "paylod": 2}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [entry["code"] for entry in error["details"]["paylod"]] == ["unknown_field"]
    assert list(error["details"]) == ["paylod"]
    assert _invocations("members") == 0


def test_a_user_cannot_manage_functions(members, alice_api) -> None:  # type: ignore[no-untyped-def]
    assert alice_api.get("/v1/functions").status_code == 403
    assert alice_api.get("/v1/functions/members").status_code == 403
    assert alice_api.get("/v1/functions/members/versions").status_code == 403
    assert alice_api.post("/v1/functions/members/rollback", {"version": 1}, format="json").status_code == 403
    assert alice_api.delete("/v1/functions/members").status_code == 403
    assert deploy(alice_api, "mine", WHO).status_code == 403
    assert members.get("/v1/functions/members").status_code == 200  # still there
