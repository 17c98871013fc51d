"""OpenAPI examples of the auth API's main operations (the schemas are in `api/representations.py`
and `api/bodies.py`)."""

from __future__ import annotations

from baas.openapi import examples

USER = {
    "id": "0b6f2c1e-5d7a-4c1b-9a3e-2f8d6c4b1a90",
    "email": "ada@example.com",
    "is_anonymous": False,
    "email_verified": False,
    "data": {"name": "Ada"},
    "claims": {},
    "created_at": "2026-01-05T09:30:00Z",
}
ACCESS = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwYjZmMmMxZSJ9.c2lnbmF0dXJl"
REFRESH = "rt_4mQ2xV9pL0sK7dN3fH8jB1cW6yT5uA"
SESSION = {"user": USER, "access": ACCESS, "refresh": REFRESH}
PASSWORD = "correct horse battery staple"

examples(
    "auth_sign_up",
    request={"email": "ada@example.com", "password": PASSWORD, "data": {"name": "Ada"}},
    r201=SESSION,
)
examples("auth_sign_in", request={"email": "ada@example.com", "password": PASSWORD}, r200=SESSION)
examples(
    "auth_refresh", request={"refresh": REFRESH}, r200={"access": ACCESS, "refresh": "rt_9zY8xW7vU6tS5rQ4pO3nM2lK"}
)
examples("auth_user_get", r200=USER)
examples(
    "auth_user_update",
    request={"data": {"name": "Ada Lovelace"}},
    r200={**USER, "data": {"name": "Ada Lovelace"}},
    r202={**USER, "pending_email": "ada@lovelace.example"},
)

KEY = {
    "id": "7c1d9e4a-2b3f-4e6d-8a1c-5f0e9d8c7b6a",
    "name": "backend",
    "role": "service",
    "prefix": "sk_3fA9",
    "created_at": "2026-01-05T09:00:00Z",
    "last_used_at": None,
}
examples("admin_keys_create", request={"name": "backend"}, r201={**KEY, "secret": "sk_3fA9kQ2mV7xL0pR8sT4wY6zB1nC5dE"})
examples("admin_keys_list", r200={"items": [KEY], "next_cursor": None})

# --- examples of the other operations --------------------------------------------------------------------
ANONYMOUS_ID = "5e2a8c4d-1f3b-4a6e-9d7c-0b8a6f4e2c1d"
examples(
    "auth_sign_in_anonymously",
    request={"data": {"name": "Guest"}},
    r201={
        **SESSION,
        "user": {**USER, "id": ANONYMOUS_ID, "email": None, "is_anonymous": True, "data": {"name": "Guest"}},
    },
)
examples("auth_sign_out", request={"refresh": REFRESH, "all": False})
examples("auth_recover", request={"email": "ada@example.com"})
examples(
    "auth_recover_confirm", request={"token": "rc_8hJ2kL4mN6pQ", "password": "a new horse battery staple"}, r200=SESSION
)
examples("auth_verify", request={"token": "vf_2bC4dE6fG8hJ"}, r200={**USER, "email_verified": True})

ADMIN_USER = {
    **USER,
    "email_verified": True,
    "claims": {"plan": "pro"},
    "disabled": False,
    "updated_at": "2026-01-06T08:15:00Z",
    "last_sign_in_at": "2026-01-06T08:15:00Z",
}
examples("admin_users_list", r200={"items": [ADMIN_USER], "next_cursor": None})
examples(
    "admin_users_create",
    request={"email": "grace@example.com", "password": PASSWORD, "email_verified": True, "data": {"name": "Grace"}},
    r201={
        **ADMIN_USER,
        "id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "email": "grace@example.com",
        "data": {"name": "Grace"},
        "claims": {},
        "created_at": "2026-01-06T09:00:00Z",
        "updated_at": "2026-01-06T09:00:00Z",
        "last_sign_in_at": None,
    },
)
examples("admin_users_get", r200=ADMIN_USER)
examples(
    "admin_users_update",
    request={"claims": {"plan": "team"}, "disabled": False},
    r200={**ADMIN_USER, "claims": {"plan": "team"}, "updated_at": "2026-01-07T10:00:00Z"},
)
