from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from auth.models import ServiceKey


class ServiceKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ServiceKey
        fields = ["id", "name", "role", "prefix", "created_at", "last_used_at"]
        read_only_fields = fields


class ServiceKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(choices=["service"], default="service")


class CreatedServiceKeySerializer(ServiceKeySerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ServiceKeySerializer.Meta):
        fields = [*ServiceKeySerializer.Meta.fields, "secret"]
        read_only_fields = fields


class ServiceKeyPageSerializer(serializers.Serializer):
    items = ServiceKeySerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


# --- strict input --------------------------------------------------------------------------------
# DRF coerces 123 into "123" and "yes" into True; a client sending the wrong JSON type gets a 400
# instead, and fields a body does not define are refused rather than silently dropped.


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictEmailField(serializers.EmailField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data.strip())


class JSONObjectField(serializers.DictField):
    """Any JSON object (a dict; not a list, string or null)."""

    default_error_messages = {"not_a_dict": "Must be a JSON object."}


def password_field(**kwargs: Any) -> StrictCharField:
    return StrictCharField(trim_whitespace=False, max_length=1024, style={"input_type": "password"}, **kwargs)


class StrictSerializer(serializers.Serializer):
    """Refuses unknown fields with `{field: [{code: "unknown_field", …}]}`."""

    def to_internal_value(self, data: Any) -> Any:
        errors: dict[str, Any] = {}
        if isinstance(data, Mapping):
            for name in data:
                if name not in self.fields or self.fields[name].read_only:
                    errors[name] = [ErrorDetail("This field is not accepted here.", code="unknown_field")]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict):
                errors.update(exc.detail)
            else:
                raise
        if errors:
            raise serializers.ValidationError(errors)
        return value


# --- the user object -----------------------------------------------------------------------------


class UserSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(read_only=True, allow_null=True)
    is_anonymous = serializers.BooleanField(source="anonymous", read_only=True)
    email_verified = serializers.BooleanField(read_only=True)
    data = serializers.DictField(read_only=True, help_text="User-editable profile data.")
    claims = serializers.DictField(read_only=True, help_text="Set by admins; in the access token.")
    created_at = serializers.DateTimeField(read_only=True)


class PendingEmailUserSerializer(UserSerializer):
    """The user (address unchanged) and the new address waiting for confirmation."""

    pending_email = serializers.EmailField(read_only=True)


class AdminUserSerializer(UserSerializer):
    disabled = serializers.BooleanField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    last_sign_in_at = serializers.DateTimeField(source="last_login", read_only=True, allow_null=True)


class AdminUserPageSerializer(serializers.Serializer):
    items = AdminUserSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class SessionSerializer(serializers.Serializer):
    user = UserSerializer()
    access = serializers.CharField(help_text="Access JWT; send as `Authorization: Bearer …`.")
    refresh = serializers.CharField(help_text="Refresh token; single use, rotates.")


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


# --- request bodies ------------------------------------------------------------------------------


class SignupBody(StrictSerializer):
    class Meta:
        ref_name = "Signup"  # the OpenAPI component is "SignupRequest"

    email = StrictEmailField()
    password = password_field()
    data = JSONObjectField(required=False)


class TokenBody(StrictSerializer):
    class Meta:
        ref_name = "Token"  # the OpenAPI component is "TokenRequest"

    email = StrictEmailField()
    password = password_field()


class RefreshBody(StrictSerializer):
    class Meta:
        ref_name = "Refresh"  # the OpenAPI component is "RefreshRequest"

    refresh = StrictCharField(max_length=4096)


class LogoutBody(StrictSerializer):
    class Meta:
        ref_name = "Logout"  # the OpenAPI component is "LogoutRequest"

    refresh = StrictCharField(
        max_length=4096, required=False, help_text="Optional when an access token authenticates the call."
    )
    all = StrictBooleanField(required=False, default=False, help_text="End every session of the user.")


class AnonymousBody(StrictSerializer):
    class Meta:
        ref_name = "Anonymous"  # the OpenAPI component is "AnonymousRequest"

    data = JSONObjectField(required=False)


class UserUpdateBody(StrictSerializer):
    class Meta:
        ref_name = "UserUpdate"  # the OpenAPI component is "UserUpdateRequest"

    email = StrictEmailField(required=False)
    password = password_field(required=False)
    data = JSONObjectField(required=False, help_text="Replaces the stored profile data.")


class EmptyBody(StrictSerializer):
    class Meta:
        ref_name = "Empty"  # the OpenAPI component is "EmptyRequest"


class VerifyBody(StrictSerializer):
    class Meta:
        ref_name = "Verify"  # the OpenAPI component is "VerifyRequest"

    token = StrictCharField(max_length=256)


class RecoverBody(StrictSerializer):
    class Meta:
        ref_name = "Recover"  # the OpenAPI component is "RecoverRequest"

    email = StrictEmailField()


class RecoverConfirmBody(StrictSerializer):
    class Meta:
        ref_name = "RecoverConfirm"  # the OpenAPI component is "RecoverConfirmRequest"

    token = StrictCharField(max_length=256)
    password = password_field()


class AdminUserCreateBody(StrictSerializer):
    class Meta:
        ref_name = "AdminUserCreate"  # the OpenAPI component is "AdminUserCreateRequest"

    email = StrictEmailField()
    password = password_field(required=False, allow_null=True)
    disabled = StrictBooleanField(required=False)
    claims = JSONObjectField(required=False)
    data = JSONObjectField(required=False)
    email_verified = StrictBooleanField(required=False)


class AdminUserUpdateBody(StrictSerializer):
    class Meta:
        ref_name = "AdminUserUpdate"  # the OpenAPI component is "AdminUserUpdateRequest"

    email = StrictEmailField(required=False)
    password = password_field(required=False)
    disabled = StrictBooleanField(required=False)
    claims = JSONObjectField(required=False)
    data = JSONObjectField(required=False)
    email_verified = StrictBooleanField(required=False)
