"""The lean bearer path (documents/api/lean.py) skips DRF's dispatch, so it must not skip anything
DRF's dispatch would do: its authentication classes are the view's (DRF's settings), and a view
with a permission, throttle or other hook the lean path does not honour is refused at creation."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.utils.module_loading import import_string
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.versioning import URLPathVersioning
from rest_framework.views import APIView

from auth.authentication import JWTAuthentication, ServiceKeyAuthentication, UnknownBearerAuthentication
from baas.principals import principal_of
from documents.api.lean import LeanBearerDispatch
from documents.api.views import DocumentDetailView, DocumentListView


def _answer(principal, request, **kwargs):  # type: ignore[no-untyped-def]
    return 200, {"kind": principal.kind}, None


def _drf_get(self, request):  # type: ignore[no-untyped-def]
    return Response({"kind": principal_of(request).kind})


def lean_view(**attributes: object) -> type[APIView]:
    """A view on the lean path, made now (the check runs when the class is created)."""
    namespace = {"lean_methods": {"GET": _answer}, "get": _drf_get, **attributes}
    return type("LeanTestView", (LeanBearerDispatch, APIView), namespace)


def test_the_document_views_run_the_authentication_classes_of_the_settings():
    configured = [import_string(path) for path in settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]]
    before_session = []
    for cls in configured:
        if issubclass(cls, SessionAuthentication):
            break
        before_session.append(cls)
    assert before_session == [ServiceKeyAuthentication, JWTAuthentication, UnknownBearerAuthentication]
    for view in (DocumentListView, DocumentDetailView):
        assert [type(authenticator) for authenticator in view.lean_authenticators] == before_session


@pytest.mark.parametrize(
    ("attributes", "named"),
    [
        ({"permission_classes": [IsAuthenticated]}, "permission classes"),
        ({"permission_classes": [AllowAny, IsAuthenticated]}, "permission classes"),
        ({"throttle_classes": [AnonRateThrottle]}, "throttle classes"),
        ({"versioning_class": URLPathVersioning}, "versioning class"),
        ({"parser_classes": [FormParser]}, "parser classes"),
        ({"renderer_classes": [JSONRenderer, BrowsableAPIRenderer]}, "renderer classes"),
        ({"check_permissions": lambda self, request: None}, "check_permissions"),
        ({"check_throttles": lambda self, request: None}, "check_throttles"),
        ({"initial": lambda self, request, *args, **kwargs: None}, "initial"),
        ({"get_exception_handler": lambda self: None}, "get_exception_handler"),
        (
            {"key_checking_methods": {"GET": _answer}, "authentication_classes": [JWTAuthentication]},
            "ServiceKeyAuthentication and JWTAuthentication are not the first",
        ),
    ],
)
def test_a_view_with_a_hook_the_lean_path_would_skip_fails_at_creation(attributes, named):
    with pytest.raises(ImproperlyConfigured, match="would skip") as refused:
        lean_view(**attributes)
    assert named in str(refused.value)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("permission_classes", [IsAuthenticated]),  # DEFAULT_PERMISSION_CLASSES
        ("throttle_classes", [AnonRateThrottle]),  # DEFAULT_THROTTLE_CLASSES
    ],
)
def test_a_permission_or_throttle_from_the_settings_fails_at_creation(monkeypatch, setting, value):
    # DRF copies its DEFAULT_* settings onto APIView when it is imported: this is what a setting does.
    monkeypatch.setattr(APIView, setting, value)
    with pytest.raises(ImproperlyConfigured, match="would skip"):
        lean_view()


def test_a_view_without_any_such_hook_is_accepted():
    assert lean_view().lean_authenticators  # the settings' bearer classes


@pytest.mark.django_db
def test_the_lean_path_authenticates_with_the_view_classes_only(alice, service_key):
    """A view whose classes do not accept access tokens refuses one on the lean path too."""
    keys_only = lean_view(authentication_classes=[ServiceKeyAuthentication, UnknownBearerAuthentication]).as_view()
    factory = RequestFactory()

    accepted = keys_only(factory.get("/x", HTTP_AUTHORIZATION=f"Bearer {service_key}"))
    assert accepted.status_code == 200 and accepted.content == b'{"kind":"service"}'

    refused = keys_only(factory.get("/x", HTTP_AUTHORIZATION=f"Bearer {alice['access']}"))
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == 'Bearer realm="baas"'

    everything = lean_view().as_view()  # the settings' classes: the access token is a user's
    user = everything(factory.get("/x", HTTP_AUTHORIZATION=f"Bearer {alice['access']}"))
    assert user.status_code == 200 and user.content == b'{"kind":"user"}'


@pytest.mark.django_db
def test_a_request_no_lean_authenticator_decides_goes_through_drf(service_key):
    """With only a session class configured, the lean path decides nothing and DRF answers."""
    session_only = lean_view(authentication_classes=[SessionAuthentication]).as_view()
    assert session_only.view_class.lean_authenticators == ()
    response = session_only(RequestFactory().get("/x", HTTP_AUTHORIZATION=f"Bearer {service_key}"))
    response.render()
    # DRF ran its dispatch: no authenticator took the bearer header, so the caller is anonymous.
    assert response.status_code == 200
    assert response.content == b'{"kind":"anonymous"}'
