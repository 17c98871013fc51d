"""`Idempotency-Key`: a retry gets the first answer and writes nothing twice (baas/idempotency.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from baas import idempotency
from baas.models import IdempotencyKey
from documents import services as documents
from documents.models import Document

pytestmark = pytest.mark.django_db

OPEN_RULES = {"read": "true", "create": "true", "update": "true", "delete": "true"}


@pytest.fixture
def notes(db: None) -> None:
    documents.create_collection(name="notes", rules=OPEN_RULES)


def create(client: APIClient, key: str, data: dict, **extra):  # type: ignore[no-untyped-def]
    return client.post("/v1/db/notes", {"data": data}, format="json", HTTP_IDEMPOTENCY_KEY=key, **extra)


def count() -> int:
    return Document.objects.filter(collection__name="notes").count()


@pytest.mark.parametrize("persona", ["alice_api", "service_api", "api"])
def test_a_retried_create_makes_one_document_and_returns_the_first_answer(notes, persona, request):
    client = request.getfixturevalue(persona)
    first = create(client, "k-1", {"title": "hi"})
    again = create(client, "k-1", {"title": "hi"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["ETag"] == first["ETag"] and again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert count() == 1


def test_without_a_key_every_request_writes(notes, alice_api):
    alice_api.post("/v1/db/notes", {"data": {}}, format="json")
    alice_api.post("/v1/db/notes", {"data": {}}, format="json")
    assert count() == 2


def test_the_same_key_with_another_body_is_422(notes, alice_api):
    create(alice_api, "k-1", {"title": "hi"})
    other = create(alice_api, "k-1", {"title": "changed"})
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert count() == 1


def test_keys_are_per_caller(notes, alice_api, bob_api):
    mine = create(alice_api, "shared", {"n": 1})
    theirs = create(bob_api, "shared", {"n": 1})
    assert theirs.status_code == 201 and theirs.json()["id"] != mine.json()["id"]
    anonymous = create(APIClient(), "shared", {"n": 1}, REMOTE_ADDR="10.0.0.1")
    other_address = create(APIClient(), "shared", {"n": 1}, REMOTE_ADDR="10.0.0.2")
    assert anonymous.json()["id"] != other_address.json()["id"]
    assert count() == 4


def test_a_key_still_running_is_409_and_never_a_second_write(notes, alice_api, alice):
    body = b'{"data": {"x": 1}}'
    running = _reserve_like_a_running_request(alice_api, "busy", body)
    answer = alice_api.generic(
        "POST", "/v1/db/notes", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="busy"
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "idempotency_key_in_use"
    assert count() == 0
    # A runner that crashed frees its key when its lock time is over: the retry then runs.
    IdempotencyKey.objects.filter(pk=running.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    answer = alice_api.generic(
        "POST", "/v1/db/notes", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="busy"
    )
    assert answer.status_code == 201 and count() == 1


def _reserve_like_a_running_request(client: APIClient, key: str, body: bytes) -> IdempotencyKey:
    """Start a request and stop it inside the view, its key reserved: what a concurrent retry meets."""
    seen: dict = {}

    def hold(request):  # type: ignore[no-untyped-def]
        seen["row"] = IdempotencyKey.objects.get()
        raise _Stop

    middleware = idempotency.IdempotencyMiddleware(hold)
    from django.test import RequestFactory

    request = RequestFactory().post("/v1/db/notes", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)
    request.META["HTTP_AUTHORIZATION"] = client._credentials["HTTP_AUTHORIZATION"]
    with pytest.raises(_Stop):
        middleware(request)
    # The failed run deleted its row (a retry may run for real); put it back as a live runner's.
    row = seen["row"]
    row.pk = None
    row.save(force_insert=True)
    return row


class _Stop(Exception):
    pass


def test_an_expired_key_is_forgotten(notes, alice_api):
    first = create(alice_api, "old", {"n": 1})
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    second = create(alice_api, "old", {"n": 1})
    assert second.status_code == 201 and second.json()["id"] != first.json()["id"]
    assert count() == 2
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert idempotency.purge_expired() == 1 and not IdempotencyKey.objects.exists()


def test_delete_and_patch_with_a_key(notes, alice_api):
    doc = create(alice_api, "c", {"n": 1}).json()
    path = f"/v1/db/notes/{doc['id']}"
    patched = alice_api.patch(path, {"ops": {"n": {"increment": 1}}}, format="json", HTTP_IDEMPOTENCY_KEY="p")
    again = alice_api.patch(path, {"ops": {"n": {"increment": 1}}}, format="json", HTTP_IDEMPOTENCY_KEY="p")
    assert patched.status_code == 200, patched.json()
    assert again.json() == patched.json() and alice_api.get(path).json()["data"]["n"] == 2
    deleted = alice_api.delete(path, HTTP_IDEMPOTENCY_KEY="d")
    deleted_again = alice_api.delete(path, HTTP_IDEMPOTENCY_KEY="d")
    assert deleted.status_code == deleted_again.status_code == 204
    assert alice_api.delete(path, HTTP_IDEMPOTENCY_KEY="d2").status_code == 404  # a new key really runs


def test_batch_and_signup_are_covered(notes, alice_api):
    ops = {"ops": [{"op": "create", "collection": "notes", "id": "b1", "data": {}}]}
    first = alice_api.post("/v1/db/batch", ops, format="json", HTTP_IDEMPOTENCY_KEY="b")
    again = alice_api.post("/v1/db/batch", ops, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    body = {"email": "carol@example.com", "password": "correct horse battery"}
    signup = APIClient().post("/v1/auth/signup", body, format="json", HTTP_IDEMPOTENCY_KEY="s")
    retried = APIClient().post("/v1/auth/signup", body, format="json", HTTP_IDEMPOTENCY_KEY="s")
    assert signup.status_code == retried.status_code == 201 and retried.json() == signup.json()


def test_errors_below_500_are_remembered_but_refusals_of_credentials_are_not(notes, alice_api):
    bad = alice_api.post("/v1/db/notes", {"data": "not an object"}, format="json", HTTP_IDEMPOTENCY_KEY="e")
    assert bad.status_code == 400
    assert alice_api.post("/v1/db/notes", {"data": "not an object"}, format="json", HTTP_IDEMPOTENCY_KEY="e")[
        "Idempotent-Replayed"
    ]
    refused = APIClient().post(
        "/v1/auth/user", {}, format="json", HTTP_AUTHORIZATION="Bearer nope", HTTP_IDEMPOTENCY_KEY="e"
    )
    assert refused.status_code == 401 and not IdempotencyKey.objects.filter(status=401).exists()


@pytest.mark.parametrize("key", ["", "x" * 256, "a\tb", "a\x7fb", "é"])
def test_a_malformed_key_is_400(notes, alice_api, key):
    answer = create(alice_api, key, {"n": 1})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_request"
    assert count() == 0


def test_the_longest_key_is_taken(notes, alice_api):
    assert create(alice_api, "x" * 255, {"n": 1}).status_code == 201


# --- against a live server: requests racing with one key make one write --------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.realtime.conftest import prepare, stack_env, start_server

    for env in stack_env(tmp_path_factory.mktemp("idem")):
        running = start_server(prepare(env))
        try:
            running.rest("POST", "/v1/db/collections", {"name": "race", "rules": {"read": "true", "create": "true"}})
            yield running
        finally:
            running.process.stop()


def _post(base: str, key: str, token: str, body: bytes) -> tuple[int, dict, dict]:
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{base}/v1/db/race", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


@pytest.mark.slow  # a live server process
@pytest.mark.parametrize("round_", range(3))
def test_concurrent_requests_with_one_key_make_one_write(live, round_):
    import json
    from concurrent.futures import ThreadPoolExecutor

    key = f"race-{round_}"
    body = json.dumps({"data": {"round": round_}}).encode()  # rounds may run on different xdist workers
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _post(live.base, key, live.key, body), range(8)))
    created = [answer for status, answer, _ in answers if status == 201]
    busy = [answer for status, answer, _ in answers if status == 409]
    assert len(created) + len(busy) == 8, answers
    assert len({doc["id"] for doc in created}) == 1, created  # the winner's answer, replayed to the late ones
    assert all(answer["error"]["code"] == "idempotency_key_in_use" for answer in busy)
    status, listing, _ = _post(live.base, key, live.key, body)  # after all of them: the first answer
    assert status == 201 and listing["id"] == created[0]["id"]
    found = live.rest("GET", "/v1/db/race?limit=100")
    assert sum(1 for doc in found["items"] if doc["data"] == {"round": round_}) == 1
