"""Users: signup, sign-in, anonymous accounts and linking, profile updates, email verification,
password reset, and the admin operations. Views call these through `auth.services`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from auth import emails, limits, sessions, tasks
from auth.errors import AuthFieldCode
from auth.limits import NO_CLIENT, Client
from auth.models import EmailToken, User
from auth.selectors import user_by_id
from auth.sessions import SignedIn
from baas import audit
from baas.errors import (
    Conflict,
    InvalidRequest,
    NotAuthenticated,
    PermissionDenied,
    ValidationFailed,
    field_error,
    refuse_unknown_fields,
)
from baas.principals import Principal

# One wording for "this address is taken", whoever asks: it does not say whose account it is, and
# the owner of the address gets an email about it (see docs/auth.md, account enumeration).
EMAIL_UNAVAILABLE = (
    "This email address cannot be used to create an account. If it is yours, sign in or reset your password."
)
_BAD_CREDENTIALS = "The email or password is wrong."

ADMIN_FIELDS = frozenset({"email", "password", "disabled", "claims", "data", "email_verified"})


def normalize_email(email: str) -> str:
    return User.objects.normalize_email(email.strip()).lower()


def check_password_strength(password: str, *, user: User) -> None:
    """Django's password validators (AUTH_PASSWORD_VALIDATORS) on `password`: every failure is an
    entry under `password`, with the validator's code (`password_too_short`, …)."""
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            details={
                "password": [
                    {"code": e.code or "invalid", "message": str(e.message % (e.params or {}))} for e in exc.error_list
                ]
            }
        ) from None


def _check_data_size(field: str, value: dict[str, Any]) -> None:
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > settings.AUTH_USER_DATA_MAX_BYTES:
        limit = settings.AUTH_USER_DATA_MAX_BYTES
        raise field_error(field, AuthFieldCode.TOO_LARGE, f"At most {limit} bytes of JSON, not {size}.")


def _email_taken(email: str, *, excluding: uuid.UUID | None = None) -> bool:
    users = User.objects.filter(email__iexact=email)
    if excluding is not None:
        users = users.exclude(pk=excluding)
    return users.exists()


# --- signing up and in ---------------------------------------------------------------------------


def signup(*, email: str, password: str, data: dict[str, Any] | None = None, client: Client) -> SignedIn:
    """Create a user with email and password and sign them in.

    An address that has an account already gets the same generic 409 after the same password
    hashing work, and its owner is told by email.
    """
    email = normalize_email(email)
    limits.check("signup", client=client, account=email)
    data = data or {}
    _check_data_size("data", data)
    check_password_strength(password, user=User(email=email, data=data))
    if _email_taken(email):
        make_password(password)  # the same hashing cost as a real signup
        with transaction.atomic():
            tasks.send_email_after_commit(emails.ACCOUNT_EXISTS, address=email)
        raise Conflict(EMAIL_UNAVAILABLE, details={"email": "unavailable"})
    try:
        with transaction.atomic():
            user = User.objects.create_user(email, password, data=data)
            return sessions.signed_in(user=user, client=client)
    except IntegrityError:  # a concurrent signup with the same address won
        raise Conflict(EMAIL_UNAVAILABLE, details={"email": "unavailable"}) from None


def _checked_credentials(*, email: str, password: str, client: Client, staff_only: bool = False) -> User:
    """The account these credentials open, subject to rate limits and the failed-login lockout.

    A wrong password and an unknown account cost the same argon2 time and give the same answer;
    so does a correct password for an app user at the console's door (`staff_only`), which must
    not reveal that the password was right."""
    email = normalize_email(email)
    limits.check("token", client=client, account=email)
    limits.check_not_locked(email=email, client=client)
    user = User.objects.filter(email__iexact=email).first()
    if user is None or not user.has_usable_password():
        make_password(password)  # unknown accounts cost the same time as known ones
        limits.record_login_failure(email=email, client=client)
        raise NotAuthenticated(_BAD_CREDENTIALS)
    if not user.check_password(password) or (staff_only and not user.is_staff):
        limits.record_login_failure(email=email, client=client)
        raise NotAuthenticated(_BAD_CREDENTIALS)
    if user.disabled:
        raise PermissionDenied("This account is disabled.")
    limits.clear_login_failures(email=email, client=client)
    return user


def sign_in(*, email: str, password: str, client: Client) -> SignedIn:
    """Check email and password (argon2) and start a token session."""
    # Hashing happens outside the transaction: on SQLite it would hold the write lock meanwhile.
    user = _checked_credentials(email=email, password=password, client=client)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(last_login=timezone.now())
        return sessions.signed_in(user=user, client=client)


def staff_sign_in(*, email: str, password: str, client: Client) -> User:
    """Check an operator's email and password for the console, which keeps them in a Django
    session (no tokens; `django.contrib.auth.login` records the sign-in time). Same limits and
    lockout as `sign_in`; app users are refused alike."""
    return _checked_credentials(email=email, password=password, client=client, staff_only=True)


def sign_in_anonymously(*, data: dict[str, Any] | None = None, client: Client) -> SignedIn:
    limits.check("anonymous", client=client)
    data = data or {}
    _check_data_size("data", data)
    with transaction.atomic():
        user = User.objects.create_user(None, None, anonymous=True, data=data)
        return sessions.signed_in(user=user, client=client)


# --- the current user ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UserUpdate:
    """The user after `PATCH /v1/auth/user`, and the address waiting for confirmation, if any."""

    user: User
    pending_email: str | None = None


def update_current_user(
    *, user_id: str, changes: dict[str, Any], session_id: str | None = None, client: Client
) -> UserUpdate:
    """Apply `{email?, password?, data?}` to the signed-in user.

    A new email does not change the account's address: a confirmation link goes to the new address
    and the change happens when it is followed (`verify_email`), as Firebase's
    verifyBeforeUpdateEmail does. The answer is the same whether another account has the address
    or not (that account's owner gets a notice instead of the link), and email changes are rate
    limited per client address, per user and per target address. An anonymous user links an
    account the same way: email and password together; the password is set at once, the account
    stops being anonymous when the address is confirmed. A new password ends the user's other
    sessions. `data` replaces the stored object.
    """
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None or user.disabled:
            raise NotAuthenticated()
        email = normalize_email(changes["email"]) if "email" in changes else None
        password = changes.get("password")
        if user.anonymous and email is not None and password is None:
            raise field_error("password", AuthFieldCode.REQUIRED, "Set a password together with the email.")
        if user.anonymous and password is not None and email is None:
            raise field_error("email", AuthFieldCode.REQUIRED, "Set an email together with the password.")
        pending = email if email is not None and email != user.email else None
        if pending is not None:
            limits.check("email_change", client=client, account=str(user.pk))
            limits.check("email_change_target", client=NO_CLIENT, account=pending)
        if "data" in changes:
            _check_data_size("data", changes["data"])
            user.data = changes["data"]
        if password is not None:
            check_password_strength(password, user=user)
            user.set_password(password)
            sessions.revoke_all_sessions(user_id=str(user.pk), reason="password_changed", keep_session_id=session_id)
        user.save()
        if pending is not None:
            tasks.send_email_after_commit(emails.EMAIL_CHANGE, user_id=str(user.pk), address=pending)
    return UserUpdate(user=user, pending_email=pending)


def request_verification(*, user_id: str, client: Client) -> None:
    """Email a verification token to the user's address (nothing when already verified)."""
    limits.check("verify", client=client, account=user_id)
    with transaction.atomic():
        user = User.objects.filter(pk=user_id).first()
        if user is None:
            raise NotAuthenticated()
        if not user.email:
            raise InvalidRequest("This account has no email address to verify.")
        if user.email_verified:
            return
        tasks.send_email_after_commit(emails.VERIFY, user_id=str(user.pk))


def verify_email(*, token: str, client: Client) -> User:
    """Confirm an address with an emailed token: the user's own (verify) or a new one (email
    change, which then becomes the account's verified address)."""
    limits.check("verify", client=client)
    with transaction.atomic():
        claimed = emails.claim_token(secret=token, purpose=EmailToken.VERIFY)
        if claimed is not None:
            user = claimed.user
            user.email_verified = True
            user.save(update_fields=["email_verified", "updated_at"])
            return user
        change = emails.claim_email_change(secret=token)
        if change is None or change.user.disabled:
            raise field_error("token", AuthFieldCode.INVALID, "This token is unknown, used or expired.")
        return _apply_email_change(change)


def _apply_email_change(change: EmailToken) -> User:
    """Make the confirmed address the account's (verified); the old address is told."""
    user = User.objects.select_for_update().get(pk=change.user_id)
    if _email_taken(change.email, excluding=user.pk):
        # Someone signed up with it after the request; its owner proved control, so may know.
        raise Conflict(EMAIL_UNAVAILABLE, details={"email": "unavailable"})
    old = user.email
    user.email, user.email_verified, user.anonymous = change.email, True, False
    try:
        with transaction.atomic():
            user.save(update_fields=["email", "email_verified", "anonymous", "updated_at"])
    except IntegrityError:
        raise Conflict(EMAIL_UNAVAILABLE, details={"email": "unavailable"}) from None
    if old:
        tasks.send_email_after_commit(emails.EMAIL_CHANGED, address=old)
    return user


def request_recovery(*, email: str, client: Client) -> None:
    """Email a reset token if the address has an enabled account; silent either way."""
    email = normalize_email(email)
    limits.check("recover", client=client, account=email)
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email, disabled=False).first()
        if user is None:
            return
        tasks.send_email_after_commit(emails.RECOVER, user_id=str(user.pk))


def confirm_recovery(*, token: str, password: str, client: Client) -> SignedIn:
    """Set a new password with a reset token: ends every session, lifts login lockouts, proves
    the address (verified), and signs the user in on a fresh session."""
    limits.check("verify", client=client)
    with transaction.atomic():
        claimed = emails.claim_token(secret=token, purpose=EmailToken.RECOVER)
        if claimed is None or claimed.user.disabled:
            raise field_error("token", AuthFieldCode.INVALID, "This token is unknown, used or expired.")
        user = claimed.user
        check_password_strength(password, user=user)
        user.set_password(password)
        user.email_verified = True
        user.save()
        sessions.revoke_all_sessions(user_id=str(user.pk), reason="password_reset")
        result = sessions.signed_in(user=user, client=client)
    limits.clear_login_failures(email=user.email or "", client=client)
    return result


# --- admin -----------------------------------------------------------------------------------------


def _apply_admin_changes(user: User, changes: dict[str, Any]) -> bool:
    """Set admin-editable fields; returns whether the user's sessions must end."""
    refuse_unknown_fields(changes, ADMIN_FIELDS)
    end_sessions = False
    if "email" in changes:
        email = normalize_email(changes["email"])
        if email != user.email:
            if _email_taken(email, excluding=user.pk):
                raise Conflict("Another user has this email address.", details={"email": email})
            user.email = email
            user.anonymous = False
            user.email_verified = bool(changes.get("email_verified", False))
            if not user._state.adding:  # an existing user's pending change is overtaken
                emails.void_email_changes(user=user)
    if "email_verified" in changes:
        user.email_verified = bool(changes["email_verified"])
    if "data" in changes:
        _check_data_size("data", changes["data"])
        user.data = changes["data"]
    if "claims" in changes:
        _check_data_size("claims", changes["claims"])
        user.claims = changes["claims"]
    if "disabled" in changes:
        end_sessions = bool(changes["disabled"]) and not user.disabled
        user.disabled = bool(changes["disabled"])
    if changes.get("password") is not None:
        if not user.email:
            raise field_error("password", AuthFieldCode.INVALID, "An account without email cannot have a password.")
        check_password_strength(changes["password"], user=user)
        user.set_password(changes["password"])
        end_sessions = True
    return end_sessions


def admin_create_user(*, changes: dict[str, Any], actor: Principal | None = None) -> User:
    if "email" not in changes:
        raise field_error("email", AuthFieldCode.REQUIRED, "This field is required.")
    user = User(email=normalize_email(changes["email"]))
    user.set_unusable_password()
    if _email_taken(user.email or ""):
        raise Conflict("Another user has this email address.", details={"email": user.email})
    _apply_admin_changes(user, {k: v for k, v in changes.items() if k != "email"})
    try:
        with transaction.atomic():
            user.save()
            audit.record(actor=actor, action="user.create", target=f"user:{user.pk}", after=_audited(user, changes))
    except IntegrityError:
        raise Conflict("Another user has this email address.", details={"email": user.email}) from None
    return user


def _audited(user: User, changes: dict[str, Any]) -> dict[str, Any]:
    """The admin-editable fields `changes` names, as the audit log keeps them (never a password)."""
    shown = {field: getattr(user, field) for field in sorted(ADMIN_FIELDS - {"password"}) if field in changes}
    if changes.get("password") is not None:
        shown["password"] = "changed"
    return shown


def _user_action(changes: dict[str, Any]) -> str:
    if set(changes) == {"claims"}:
        return "user.claims.update"
    if set(changes) == {"disabled"}:
        return "user.disable" if changes["disabled"] else "user.enable"
    return "user.update"


def admin_update_user(*, user_id: str, changes: dict[str, Any], actor: Principal | None = None) -> User:
    """Change email, password, disabled, claims, data, email_verified. Disabling the user or
    setting a password ends every session at once."""
    with transaction.atomic():
        user = user_by_id(user_id, lock=True)
        before = _audited(user, {**changes, "password": None})
        end_sessions = _apply_admin_changes(user, changes)
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:
            raise Conflict("Another user has this email address.", details={"email": user.email}) from None
        if end_sessions:
            sessions.revoke_all_sessions(user_id=str(user.pk), reason="admin")
        audit.record(
            actor=actor,
            action=_user_action(changes),
            target=f"user:{user.pk}",
            before=before,
            after=_audited(user, changes),
        )
    return user


def admin_delete_user(*, user_id: str, actor: Principal | None = None) -> None:
    with transaction.atomic():
        user = user_by_id(user_id)
        # Its sessions go with it (cascade): end them first, so that their end is announced.
        sessions.revoke_all_sessions(user_id=str(user.pk), reason="user_deleted")
        before = _audited(user, dict.fromkeys(ADMIN_FIELDS - {"password"}))
        user.delete()
        audit.record(actor=actor, action="user.delete", target=f"user:{user_id}", before=before)


def admin_revoke_sessions(*, user_id: str, actor: Principal | None = None) -> int:
    user = user_by_id(user_id)
    with transaction.atomic():
        ended = sessions.revoke_all_sessions(user_id=str(user.pk), reason="admin")
        audit.record(actor=actor, action="user.sessions.revoke", target=f"user:{user.pk}", after={"ended": ended})
    return ended


def create_admin(*, email: str, password: str) -> tuple[User, bool]:
    """Create an operator (staff + superuser), or promote and re-password an existing account.

    Returns the user and whether it was created.
    """
    email = normalize_email(email)
    if "@" not in email:
        raise field_error("email", "invalid", "Enter a valid email address.")
    existing = User.objects.filter(email__iexact=email).first()
    check_password_strength(password, user=existing or User(email=email))
    if existing is not None:
        existing.is_staff = existing.is_superuser = True
        existing.disabled = False
        existing.set_password(password)
        existing.save()
        return existing, False
    return User.objects.create_superuser(email, password), True
