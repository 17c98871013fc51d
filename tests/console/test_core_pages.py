"""Console pages without a browser: the unsandboxed-functions warning on every page, CSRF on the
forms of the Users and Keys pages, the audit entries of the console's own changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.console.test_access import PAGES

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(staff_user: Any) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def test_every_page_warns_when_functions_run_unsandboxed(operator: Client, settings: Any) -> None:
    for path in PAGES.values():
        assert 'id="unsandboxed-warning"' not in operator.get(path).content.decode(), path
    settings.BAAS_SANDBOX = "unsafe-local"
    for path in [*PAGES.values(), "/console/two-factor"]:
        page = operator.get(path).content.decode()
        assert 'id="unsandboxed-warning"' in page and "Functions run without a sandbox" in page, path


def test_forms_without_csrf_token_are_refused(staff_user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    for path, body in (
        ("/console/users/new", {"email": "x@example.com"}),
        (f"/console/users/{staff_user.pk}/claims", {"claims": "{}"}),
        (f"/console/users/{staff_user.pk}/delete", {}),
        ("/console/keys/new", {"name": "nope"}),
        ("/console/two-factor", {"step": "begin"}),
    ):
        assert client.post(path, body).status_code == 403, path


def test_claims_that_are_not_an_object_are_refused_and_change_nothing(operator: Client, staff_user: Any) -> None:
    for text, problem in (("[1, 2]", "must be a JSON object"), ('{"a": ', "Not valid JSON")):
        answer = operator.post(f"/console/users/{staff_user.pk}/claims", {"claims": text})
        assert answer.status_code == 400 and problem in answer.content.decode()
    staff_user.refresh_from_db()
    assert staff_user.claims == {}


def test_a_bad_audit_filter_is_explained(operator: Client) -> None:
    answer = operator.get("/console/audit/", {"since": "not a time"})
    assert answer.status_code == 400
    assert "must be a timestamp" in answer.content.decode()
