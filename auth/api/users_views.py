"""`/v1/auth/…` (users and sessions) and `/v1/admin/users…`. Thin: parse, call one service, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auth import services
from auth.api.serializers import (
    AdminUserCreateBody,
    AdminUserPageSerializer,
    AdminUserSerializer,
    AdminUserUpdateBody,
    AnonymousBody,
    EmptyBody,
    LogoutBody,
    PendingEmailUserSerializer,
    RecoverBody,
    RecoverConfirmBody,
    RefreshBody,
    SessionSerializer,
    SignupBody,
    TokenBody,
    TokenPairSerializer,
    UserSerializer,
    UserUpdateBody,
    VerifyBody,
)
from auth.limits import Client
from baas.errors import NotAuthenticated, PermissionDenied
from baas.pagination import TIMESTAMP, UUID, decode_cursor, page, parse_limit
from baas.permissions import ServiceOrStaff
from baas.principals import principal_of

_ERRORS = {
    400: OpenApiResponse(description="validation_error / invalid_request"),
    429: OpenApiResponse(description="rate_limited, with Retry-After"),
}
_UNAUTHENTICATED = {401: OpenApiResponse(description="not_authenticated / token_invalid / token_expired")}


def client_of(request: Request) -> Client:
    """The caller's address, as ClientAddressMiddleware settled it (the peer, or what trusted
    proxies forwarded; always an IP address or None)."""
    return Client(ip=request.META.get("REMOTE_ADDR") or None, user_agent=request.META.get("HTTP_USER_AGENT", "")[:256])


def body(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def signed_in(result: services.SignedIn, status: int) -> Response:
    return Response(
        {"user": UserSerializer(result.user).data, "access": result.access, "refresh": result.refresh},
        status=status,
    )


class SignupView(APIView):
    authentication_classes: list[type] = []  # credentials play no part; a stale one must not block

    @extend_schema(
        summary="Create an account with email and password, signed in",
        request=SignupBody,
        responses={201: SessionSerializer, 409: OpenApiResponse(description="conflict"), **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(SignupBody, request)
        return signed_in(services.signup(**fields, client=client_of(request)), 201)


class TokenView(APIView):
    authentication_classes: list[type] = []  # credentials play no part; a stale one must not block

    @extend_schema(
        summary="Sign in with email and password",
        request=TokenBody,
        responses={200: SessionSerializer, 401: OpenApiResponse(description="bad credentials"), **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(TokenBody, request)
        return signed_in(services.sign_in(**fields, client=client_of(request)), 200)


class RefreshView(APIView):
    authentication_classes: list[type] = []

    @extend_schema(
        summary="Exchange a refresh token for a new pair (the old one is spent)",
        description="Presenting a refresh token that was already rotated ends the whole session.",
        request=RefreshBody,
        responses={200: TokenPairSerializer, **_UNAUTHENTICATED, **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(RefreshBody, request)
        pair = services.refresh_session(refresh=fields["refresh"], client=client_of(request))
        return Response({"access": pair.access, "refresh": pair.refresh})


class LogoutView(APIView):
    @extend_schema(
        summary="End this session, or every session of the user with `all: true`",
        request=LogoutBody,
        responses={204: None, **_UNAUTHENTICATED, **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(LogoutBody, request)
        principal = principal_of(request)
        services.logout(
            refresh=fields.get("refresh"),
            session_id=principal.credential_id if principal.kind == "user" else None,
            everywhere=fields["all"],
        )
        return Response(status=204)


class AnonymousView(APIView):
    authentication_classes: list[type] = []  # credentials play no part; a stale one must not block

    @extend_schema(
        summary="Sign in as a new anonymous user",
        request=AnonymousBody,
        responses={201: SessionSerializer, **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(AnonymousBody, request)
        return signed_in(services.sign_in_anonymously(**fields, client=client_of(request)), 201)


def _current_user_id(request: Request) -> str:
    principal = principal_of(request)
    if principal.is_anonymous:
        raise NotAuthenticated()
    if principal.kind not in ("user", "staff") or principal.id is None:
        raise PermissionDenied("Only a signed-in user has a current user.")
    return principal.id


class CurrentUserView(APIView):
    @extend_schema(summary="The signed-in user", responses={200: UserSerializer, **_UNAUTHENTICATED}, tags=["auth"])
    def get(self, request: Request) -> Response:
        _current_user_id(request)
        return Response(UserSerializer(request.user).data)

    @extend_schema(
        summary="Change the signed-in user's email, password or data",
        description="A new email is not applied at once: 202 with `pending_email`, and a confirmation link goes to "
        "that address (POST /v1/auth/verify applies it). The answer is the same whether the address is taken or not. "
        "On an anonymous user, email and password together link the account: same id and data.",
        request=UserUpdateBody,
        responses={
            200: UserSerializer,
            202: PendingEmailUserSerializer,
            **_UNAUTHENTICATED,
            **_ERRORS,
        },
        tags=["auth"],
    )
    def patch(self, request: Request) -> Response:
        user_id = _current_user_id(request)
        changes = body(UserUpdateBody, request)
        principal = principal_of(request)
        result = services.update_current_user(
            user_id=user_id,
            changes=changes,
            session_id=principal.credential_id if principal.kind == "user" else None,
            client=client_of(request),
        )
        if result.pending_email is None:
            return Response(UserSerializer(result.user).data)
        # 202 whatever the address: taken or free gets the same answer (see docs/auth.md).
        return Response({**UserSerializer(result.user).data, "pending_email": result.pending_email}, status=202)


class VerifyRequestView(APIView):
    @extend_schema(
        summary="Email a verification token to the signed-in user",
        request=EmptyBody,
        responses={204: None, **_UNAUTHENTICATED, **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        user_id = _current_user_id(request)
        body(EmptyBody, request)
        services.request_verification(user_id=user_id, client=client_of(request))
        return Response(status=204)


class VerifyView(APIView):
    authentication_classes: list[type] = []

    @extend_schema(
        summary="Confirm an email address with the emailed token",
        request=VerifyBody,
        responses={200: UserSerializer, **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(VerifyBody, request)
        user = services.verify_email(token=fields["token"], client=client_of(request))
        return Response(UserSerializer(user).data)


class RecoverView(APIView):
    authentication_classes: list[type] = []

    @extend_schema(
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
        summary="Set a new password with the emailed token; ends all sessions and signs in anew",
        request=RecoverConfirmBody,
        responses={200: SessionSerializer, **_ERRORS},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        fields = body(RecoverConfirmBody, request)
        result = services.confirm_recovery(**fields, client=client_of(request))
        return signed_in(result, 200)


# --- admin -----------------------------------------------------------------------------------------

_ADMIN_DENIED = {
    401: OpenApiResponse(description="not_authenticated"),
    403: OpenApiResponse(description="permission_denied"),
}


class AdminUserListView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        summary="List users, oldest first",
        operation_id="admin_users_list",
        parameters=[
            OpenApiParameter("search", str, description="Part of the email, or an exact user id."),
            OpenApiParameter("limit", int),
            OpenApiParameter("cursor", str),
        ],
        responses={200: AdminUserPageSerializer, **_ADMIN_DENIED},
        tags=["admin"],
    )
    def get(self, request: Request) -> Response:
        limit = parse_limit(request.query_params.get("limit"))
        position = decode_cursor(request.query_params.get("cursor"), (TIMESTAMP, UUID))
        after = (str(position[0]), str(position[1])) if position and len(position) == 2 else None
        users = services.list_users(search=request.query_params.get("search"), after=after, limit=limit)
        result = page(users, limit, lambda user: [user.created_at.isoformat(), str(user.id)])
        result["items"] = AdminUserSerializer(result["items"], many=True).data
        return Response(result)

    @extend_schema(
        summary="Create a user",
        request=AdminUserCreateBody,
        responses={201: AdminUserSerializer, 409: OpenApiResponse(description="conflict"), **_ADMIN_DENIED},
        tags=["admin"],
    )
    def post(self, request: Request) -> Response:
        changes = body(AdminUserCreateBody, request)
        user = services.admin_create_user(changes=changes)
        return Response(AdminUserSerializer(user).data, status=201)


class AdminUserDetailView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(summary="A user", responses={200: AdminUserSerializer, **_ADMIN_DENIED}, tags=["admin"])
    def get(self, request: Request, user_id: str) -> Response:
        return Response(AdminUserSerializer(services.get_user(user_id=user_id)).data)

    @extend_schema(
        summary="Change a user: email, password, disabled, claims, data, email_verified",
        description="Disabling a user or setting a password ends every session of the user at once.",
        request=AdminUserUpdateBody,
        responses={200: AdminUserSerializer, 409: OpenApiResponse(description="conflict"), **_ADMIN_DENIED},
        tags=["admin"],
    )
    def patch(self, request: Request, user_id: str) -> Response:
        changes = body(AdminUserUpdateBody, request)
        user = services.admin_update_user(user_id=user_id, changes=changes)
        return Response(AdminUserSerializer(user).data)

    @extend_schema(summary="Delete a user", responses={204: None, **_ADMIN_DENIED}, tags=["admin"])
    def delete(self, request: Request, user_id: str) -> Response:
        services.admin_delete_user(user_id=user_id)
        return Response(status=204)


class AdminUserLogoutView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        summary="End every session of a user",
        request=None,
        responses={204: None, **_ADMIN_DENIED},
        tags=["admin"],
    )
    def post(self, request: Request, user_id: str) -> Response:
        services.admin_revoke_sessions(user_id=user_id)
        return Response(status=204)
