"""Users and service keys."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str | None, password: str | None = None, **fields: Any) -> User:
        user = self.model(email=self.normalize_email(email).lower() if email else None, **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """An app's end user, or an operator (`is_staff`) of the console.

    `anonymous` accounts have no email until they link one; the id stays the same.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True, null=True, blank=True)
    email_verified = models.BooleanField(default=False)
    anonymous = models.BooleanField(default=False)
    disabled = models.BooleanField(default=False)
    is_staff = models.BooleanField(default=False)
    data = models.JSONField(default=dict, blank=True)
    claims = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"), name="baas_auth_user_email_ci_unique", condition=models.Q(email__isnull=False)
            )
        ]

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return not self.disabled

    def __str__(self) -> str:
        return self.email or f"anonymous:{self.id}"


class ServiceKey(models.Model):
    """A secret that authenticates as the service role. Only a SHA-256 of it is stored.

    Keys carry 256 random bits, so a fast hash is as safe as a slow one and keeps the per-request
    lookup to one indexed query.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=32, default="service")
    prefix = models.CharField(max_length=24, help_text="The first characters of the secret, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "name",
                name="baas_auth_servicekey_active_name_unique",
                condition=models.Q(revoked_at__isnull=True),
            )
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="baas_auth_sk_created_idx")]

    def __str__(self) -> str:
        return self.name


class Session(models.Model):
    """One sign-in on one device: a family of refresh tokens of which only the newest is valid.

    Each refresh token carries the session id (`sid`) and its own `jti`. Refreshing swaps
    `refresh_jti` for a new one; presenting any other jti of the family is reuse of a rotated
    token, which revokes the whole session (see docs/auth.md). Access tokens carry `sid` too, so
    revoking a session ends its access tokens on their next request.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    refresh_jti = models.CharField(max_length=64)
    previous_jti = models.CharField(max_length=64, blank=True, default="")
    rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"], name="baas_auth_session_user_idx")]

    def __str__(self) -> str:
        return f"session {self.id} of {self.user_id}"


class EmailToken(models.Model):
    """A single-use, expiring secret sent by email (verify an address, reset a password, confirm a
    new address).

    Only a SHA-256 of the secret is stored (256 random bits: a fast hash is enough). `email` is
    the address it was sent to: for verify and reset, if the user's address changes meanwhile, the
    token is void; for an email change it is the new address, which takes effect when the token
    is used.
    """

    VERIFY = "verify"
    RECOVER = "recover"
    EMAIL_CHANGE = "email_change"
    PURPOSES = [(VERIFY, "verify email"), (RECOVER, "reset password"), (EMAIL_CHANGE, "change email")]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="email_tokens")
    purpose = models.CharField(max_length=16, choices=PURPOSES)
    email = models.EmailField(max_length=254)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "purpose"], name="baas_auth_emailtoken_user_idx")]

    def __str__(self) -> str:
        return f"{self.purpose} token for {self.email}"
