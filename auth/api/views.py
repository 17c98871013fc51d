"""The auth API's views: `/v1/auth/…` (users and sessions) and `/v1/admin/…` (users and service
keys). Thin: parse the body (`auth.api.bodies`), read through `auth.selectors` or write through
`auth.services`, render with `auth.api.representations`."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auth import selectors, services
from auth.api import representations, schemas  # noqa: F401  (schemas: the examples)
from auth.api.bodies import (
    AdminUserCreateBody,
    AdminUserUpdateBody,
    AnonymousBody,
    EmptyBody,
    LogoutBody,
    RecoverBody,
    RecoverConfirmBody,
    RefreshBody,
    ServiceKeyCreateBody,
    SignupBody,
    TokenBody,
    UserUpdateBody,
    VerifyBody,
)
from auth.bearer_dispatch import (
    FrontAnswer,
    LeanBearerDispatch,
    check_lean_path,
    error_answer,
    json_answer,
    plain_refresh_token,
)
from auth.limits import Client
from auth.models import User
from baas.errors import refuse_any_body
from baas.openapi import PAGE_PARAMETERS
from baas.pagination import TIMESTAMP, UUID, decode_cursor, page, parse_limit
from baas.permissions import ServiceOrStaff
from baas.principals import principal_of

_ERRORS = {
    400: OpenApiResponse(description="validation_error / invalid_request"),
    429: OpenApiResponse(description="rate_limited, with Retry-After"),
}
_UNAUTHENTICATED = {401: OpenApiResponse(description="not_authenticated / token_invalid / token_expired")}
_ADMIN_DENIED = {
    401: OpenApiResponse(description="not_authenticated"),
    403: OpenApiResponse(description="permission_denied"),
}


def client_of(request: Request) -> Client:
    """The caller's address, as ClientAddressMiddleware settled it (the peer, or what trusted
    proxies forwarded; always an IP address or None)."""
    return Client(ip=request.META.get("REMOTE_ADDR") or None, user_agent=request.META.get("HTTP_USER_AGENT", "")[:256])


def body(parser: type, request: Request) -> dict[str, Any]:
    """The request body, parsed and validated by one of `auth.api.bodies`."""
    serializer = parser(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def after_position(request: Request) -> tuple[str, str] | None:
    """The (created_at, id) a list continues after, from `?cursor=` (pages of users and keys)."""
    position = decode_cursor(request.query_params.get("cursor"), (TIMESTAMP, UUID))
    return (str(position[0]), str(position[1])) if position and len(position) == 2 else None


def page_of(rows: list[Any], limit: int, represent: Any) -> dict[str, Any]:
    """One page of users or keys, ordered by (created_at, id), each item rendered by `represent`."""
    result = page(rows, limit, lambda row: [row.created_at.isoformat(), str(row.id)])
    result["items"] = [represent(row) for row in result["items"]]
    return result


# --- signing up and in -------------------------------------------------------------------------------


class SignupView(APIView):
    authentication_classes: list[type] = []  # credentials play no part; a stale one must not block

    @extend_schema(
        operation_id="auth_sign_up",
        summary="Create an account with email and password, signed in",
        request=SignupBody,
        responses={201: representations.SESSION, 409: OpenApiResponse(description="conflict"), **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(SignupBody, request)
        return Response(representations.session(services.signup(**fields, client=client_of(request))), status=201)


class TokenView(APIView):
    authentication_classes: list[type] = []  # credentials play no part; a stale one must not block

    @extend_schema(
        operation_id="auth_sign_in",
        summary="Sign in with email and password",
        request=TokenBody,
        responses={200: representations.SESSION, 401: OpenApiResponse(description="bad credentials"), **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(TokenBody, request)
        return Response(representations.session(services.sign_in(**fields, client=client_of(request))))


class RefreshView(APIView):
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="auth_refresh",
        summary="Exchange a refresh token for a new pair (the old one is spent)",
        description="Presenting a refresh token that was already rotated ends the whole session.",
        request=RefreshBody,
        responses={200: representations.TOKEN_PAIR, **_UNAUTHENTICATED, **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(RefreshBody, request)
        pair = services.refresh_session(refresh=fields["refresh"], client=client_of(request))
        return Response(representations.token_pair(pair))

    @classmethod
    def front_answer(cls, request: Any, kwargs: dict[str, Any]) -> FrontAnswer | None:
        """A refresh with a plain body, answered before Django's middlewares (baas/front.py) as
        `post` answers it; None leaves any other request (and every bad body) to `post`."""
        token = plain_refresh_token(request)
        if token is None:
            return None
        try:
            pair = services.refresh_session(refresh=token, client=client_of(request))
        except Exception as exc:  # the same mapping as DRF's exception handler (baas.errors)
            return error_answer(exc, cls)
        return json_answer(200, representations.token_pair(pair), cls)


check_lean_path(RefreshView)  # nothing DRF would do for it is skipped by `front_answer`


class LogoutView(APIView):
    @extend_schema(
        operation_id="auth_sign_out",
        summary="End this session, or every session of the user with `all: true`",
        request=LogoutBody,
        responses={204: None, **_UNAUTHENTICATED, **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(LogoutBody, request)
        services.logout(
            refresh=fields.get("refresh"),
            session_id=selectors.own_session_id(principal_of(request)),
            everywhere=fields["all"],
        )
        return Response(status=204)


class AnonymousView(APIView):
    authentication_classes: list[type] = []  # credentials play no part; a stale one must not block

    @extend_schema(
        operation_id="auth_sign_in_anonymously",
        summary="Sign in as a new anonymous user",
        request=AnonymousBody,
        responses={201: representations.SESSION, **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(AnonymousBody, request)
        signed_in = services.sign_in_anonymously(**fields, client=client_of(request))
        return Response(representations.session(signed_in), status=201)


# --- the current user --------------------------------------------------------------------------------


def current_user(principal: Any, request: Any, body: Any = None) -> tuple[int, Any, None]:
    """GET /v1/auth/user on the lean bearer path (auth/bearer_dispatch.py)."""
    selectors.own_user_id(principal)
    # Loaded fresh by the authentication; own_user_id refused other callers above.
    return 200, representations.user(cast(User, request.bearer_user)), None


class CurrentUserView(LeanBearerDispatch, APIView):
    lean_methods = {"GET": current_user}
    needs_bearer_user = True

    @extend_schema(
        operation_id="auth_user_get",
        summary="The signed-in user",
        responses={200: representations.USER, **_UNAUTHENTICATED},
        tags=["auth"],
    )
    def get(self, request: Request) -> Response:
        selectors.own_user_id(principal_of(request))
        # Loaded fresh by the authentication; own_user_id refused anonymous callers above.
        return Response(representations.user(cast(User, request.user)))

    @extend_schema(
        operation_id="auth_user_update",
        summary="Change the signed-in user's email, password or data",
        description="A new email is not applied at once: 202 with `pending_email`, and a confirmation link goes to "
        "that address (POST /v1/auth/verify applies it). The answer is the same whether the address is taken or not. "
        "On an anonymous user, email and password together link the account: same id and data.",
        request=UserUpdateBody,
        responses={
            200: representations.USER,
            202: representations.PENDING_EMAIL_USER,
            **_UNAUTHENTICATED,
            **_ERRORS,
        },
        tags=["auth"],
    )
    def patch(self, request: Request) -> Response:
        principal = principal_of(request)
        user_id = selectors.own_user_id(principal)
        changes = body(UserUpdateBody, request)
        result = services.update_current_user(
            user_id=user_id,
            changes=changes,
            session_id=selectors.own_session_id(principal),
            client=client_of(request),
        )
        if result.pending_email is None:
            return Response(representations.user(result.user))
        # 202 whatever the address: taken or free gets the same answer (see docs/auth.md).
        return Response(representations.pending_email_user(result.user, result.pending_email), status=202)


class VerifyRequestView(APIView):
    @extend_schema(
        operation_id="auth_verify_request",
        summary="Email a verification token to the signed-in user",
        request=EmptyBody,
        responses={204: None, **_UNAUTHENTICATED, **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        user_id = selectors.own_user_id(principal_of(request))
        body(EmptyBody, request)
        services.request_verification(user_id=user_id, client=client_of(request))
        return Response(status=204)


class VerifyView(APIView):
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="auth_verify",
        summary="Confirm an email address with the emailed token",
        request=VerifyBody,
        responses={200: representations.USER, **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(VerifyBody, request)
        user = services.verify_email(token=fields["token"], client=client_of(request))
        return Response(representations.user(user))


class RecoverView(APIView):
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="auth_recover",
        summary="Email a password-reset token (204 whether or not the address has an account)",
        request=RecoverBody,
        responses={204: None, **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(RecoverBody, request)
        services.request_recovery(email=fields["email"], client=client_of(request))
        return Response(status=204)


class RecoverConfirmView(APIView):
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="auth_recover_confirm",
        summary="Set a new password with the emailed token; ends all sessions and signs in anew",
        request=RecoverConfirmBody,
        responses={200: representations.SESSION, **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(RecoverConfirmBody, request)
        return Response(representations.session(services.confirm_recovery(**fields, client=client_of(request))))


# --- admin: users ------------------------------------------------------------------------------------


class AdminUserListView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        summary="List users, oldest first",
        operation_id="admin_users_list",
        parameters=[
            OpenApiParameter("search", str, description="Part of the email, or an exact user id."),
            *PAGE_PARAMETERS,
        ],
        responses={200: representations.ADMIN_USER_PAGE, **_ADMIN_DENIED},
        tags=["admin"],
    )
    def get(self, request: Request) -> Response:
        limit = parse_limit(request.query_params.get("limit"))
        users = selectors.list_users(
            principal=principal_of(request),
            search=request.query_params.get("search"),
            after=after_position(request),
            limit=limit,
        )
        return Response(page_of(users, limit, representations.admin_user))

    @extend_schema(
        operation_id="admin_users_create",
        summary="Create a user",
        request=AdminUserCreateBody,
        responses={201: representations.ADMIN_USER, 409: OpenApiResponse(description="conflict"), **_ADMIN_DENIED},
        tags=["admin"],
    )
    def post(self, request: Request) -> Response:
        changes = body(AdminUserCreateBody, request)
        user = services.admin_create_user(changes=changes, actor=principal_of(request))
        return Response(representations.admin_user(user), status=201)


class AdminUserDetailView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="admin_users_get",
        summary="A user",
        responses={200: representations.ADMIN_USER, **_ADMIN_DENIED},
        tags=["admin"],
    )
    def get(self, request: Request, user_id: str) -> Response:
        user = selectors.access_user(principal=principal_of(request), user_id=user_id)
        return Response(representations.admin_user(user))

    @extend_schema(
        operation_id="admin_users_update",
        summary="Change a user: email, password, disabled, claims, data, email_verified",
        description="Disabling a user or setting a password ends every session of the user at once.",
        request=AdminUserUpdateBody,
        responses={200: representations.ADMIN_USER, 409: OpenApiResponse(description="conflict"), **_ADMIN_DENIED},
        tags=["admin"],
    )
    def patch(self, request: Request, user_id: str) -> Response:
        changes = body(AdminUserUpdateBody, request)
        user = services.admin_update_user(user_id=user_id, changes=changes, actor=principal_of(request))
        return Response(representations.admin_user(user))

    @extend_schema(
        operation_id="admin_users_delete",
        summary="Delete a user",
        responses={204: None, **_ADMIN_DENIED},
        tags=["admin"],
    )
    def delete(self, request: Request, user_id: str) -> Response:
        services.admin_delete_user(user_id=user_id, actor=principal_of(request))
        return Response(status=204)


class AdminUserLogoutView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="admin_users_sign_out",
        summary="End every session of a user",
        request=None,
        responses={204: None, **_ADMIN_DENIED},
        tags=["admin"],
    )
    def post(self, request: Request, user_id: str) -> Response:
        refuse_any_body(request.data)
        services.admin_revoke_sessions(user_id=user_id, actor=principal_of(request))
        return Response(status=204)


# --- admin: service keys -----------------------------------------------------------------------------


class ServiceKeyListView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="admin_keys_list",
        summary="List active service keys",
        parameters=PAGE_PARAMETERS,
        responses={200: representations.SERVICE_KEY_PAGE, **_ADMIN_DENIED},
        tags=["admin"],
    )
    def get(self, request: Request) -> Response:
        limit = parse_limit(request.query_params.get("limit"))
        keys = selectors.list_service_keys(principal=principal_of(request), after=after_position(request), limit=limit)
        return Response(page_of(keys, limit, representations.service_key))

    @extend_schema(
        operation_id="admin_keys_create",
        summary="Create a service key (its secret is shown once)",
        request=ServiceKeyCreateBody,
        responses={
            201: representations.CREATED_SERVICE_KEY,
            409: OpenApiResponse(description="conflict"),
            **_ADMIN_DENIED,
        },
        tags=["admin"],
    )
    def post(self, request: Request) -> Response:
        key, secret = services.create_service_key(**body(ServiceKeyCreateBody, request), actor=principal_of(request))
        return Response(representations.created_service_key(key, secret), status=201)


class ServiceKeyDetailView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="admin_keys_delete",
        summary="Revoke a service key",
        responses={204: None, **_ADMIN_DENIED},
        tags=["admin"],
    )
    def delete(self, request: Request, key_id: str) -> Response:
        services.revoke_service_key(key_id=key_id, actor=principal_of(request))
        return Response(status=204)
