"""Passwords are hashed with argon2id at OWASP's interactive-login cost, and older parameters are
upgraded at the next successful login."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password, make_password

REAL_HASHERS = ["auth.hashers.BaasArgon2PasswordHasher", "django.contrib.auth.hashers.PBKDF2PasswordHasher"]


@pytest.fixture
def real_hashing(settings):
    settings.PASSWORD_HASHERS = REAL_HASHERS


def test_new_hashes_are_argon2id_with_the_configured_cost(real_hashing, settings):
    encoded = make_password("a fine long passphrase")
    assert encoded.startswith("argon2$argon2id$")
    assert f"m={settings.AUTH_ARGON2_MEMORY_KIB},t={settings.AUTH_ARGON2_TIME_COST},p=1" in encoded
    assert check_password("a fine long passphrase", encoded)


def test_a_hash_with_other_parameters_still_verifies_and_is_upgraded(real_hashing, settings):
    settings.AUTH_ARGON2_MEMORY_KIB = 8 * 1024
    old = make_password("a fine long passphrase")
    settings.AUTH_ARGON2_MEMORY_KIB = 19 * 1024
    upgraded: list[str] = []
    assert check_password("a fine long passphrase", old, setter=upgraded.append)
    assert upgraded == ["a fine long passphrase"], "the next login re-hashes with today's cost"
