"""The bearer path reads the Authorization header from META (auth.authentication.authorization_header)
and must find exactly what DRF's `get_authorization_header` finds."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from rest_framework.authentication import get_authorization_header

from auth.authentication import authorization_header

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer baas_sk_abc"},
        {"authorization": "bearer token-in-lower-case"},
        {"Authorization": ""},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer caf\u00e9"},  # latin-1, as a WSGI server decodes header bytes
        {"X-Authorization": "Bearer not-this-one"},
    ],
)
def test_the_header_is_what_drf_reads(headers):
    request = RequestFactory().get("/v1/db/notes/a", headers=headers)
    assert authorization_header(request) == get_authorization_header(request)
    assert isinstance(authorization_header(request), bytes)


def test_a_revoked_or_unknown_key_is_still_refused_on_the_lean_path(api):
    response = api.get("/v1/db/notes/a", HTTP_AUTHORIZATION="Bearer baas_sk_no-such-key")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"
    assert response["WWW-Authenticate"] == 'Bearer realm="baas"'
