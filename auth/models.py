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
