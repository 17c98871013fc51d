"""The request bodies of the auth API, parsed and validated: input only (answers are built by
`auth.api.representations`). A body is a JSON object (else 400 `invalid_request`) whose every key
the body defines (else the kernel's `unknown_field` refusal), with strict JSON types; DRF's field
errors become `{field: [{code, message}]}` through baas/errors.py."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty

from baas.errors import refuse_unknown_fields, require_object

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
    """Refuses a body that is not an object, and any field it does not define, before the fields
    are read (`baas.errors.require_object`, `refuse_unknown_fields`: one shape in every app)."""

    def run_validation(self, data: Any = empty) -> Any:
        return super().run_validation(require_object(data))  # `null` too: DRF would answer non_field_errors

    def to_internal_value(self, data: Any) -> Any:
        refuse_unknown_fields(data, [name for name, field in self.fields.items() if not field.read_only])
        return super().to_internal_value(data)


# --- request bodies ------------------------------------------------------------------------------


class SignupBody(StrictSerializer):
    class Meta:
        ref_name = "Signup"  # the OpenAPI component is "SignupRequest"

    email = StrictEmailField()
    password = password_field()
    data = JSONObjectField(required=False)  # type: ignore[assignment]  # the body field "data", not Serializer.data


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

    data = JSONObjectField(required=False)  # type: ignore[assignment]  # the body field "data", not Serializer.data


class UserUpdateBody(StrictSerializer):
    class Meta:
        ref_name = "UserUpdate"  # the OpenAPI component is "UserUpdateRequest"

    email = StrictEmailField(required=False)
    password = password_field(required=False)
    # The body field "data", not Serializer.data (hence the ignore).
    data = JSONObjectField(required=False, help_text="Replaces the stored profile data.")  # type: ignore[assignment]


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
    data = JSONObjectField(required=False)  # type: ignore[assignment]  # the body field "data", not Serializer.data
    email_verified = StrictBooleanField(required=False)


class AdminUserUpdateBody(StrictSerializer):
    class Meta:
        ref_name = "AdminUserUpdate"  # the OpenAPI component is "AdminUserUpdateRequest"

    email = StrictEmailField(required=False)
    password = password_field(required=False)
    disabled = StrictBooleanField(required=False)
    claims = JSONObjectField(required=False)
    data = JSONObjectField(required=False)  # type: ignore[assignment]  # the body field "data", not Serializer.data
    email_verified = StrictBooleanField(required=False)


class ServiceKeyCreateBody(StrictSerializer):
    class Meta:
        ref_name = "ServiceKeyCreate"  # the OpenAPI component is "ServiceKeyCreateRequest"

    name = StrictCharField(max_length=100)
    role = serializers.ChoiceField(choices=["service"], default="service")
