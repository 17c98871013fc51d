"""`baas createadmin`: an operator account, non-interactively."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_it_creates_a_staff_account_that_can_sign_in():
    from django.contrib.auth import authenticate

    call_command("createadmin", "--email", "Ops@Example.com", "--password", "a long passphrase", stdout=io.StringIO())
    user = authenticate(username="ops@example.com", password="a long passphrase")
    assert user is not None and user.is_staff and user.is_superuser
    assert user.email == "ops@example.com"
    assert user.password.startswith("argon2")


def test_it_rejects_a_weak_password_and_creates_nothing():
    from auth.models import User

    with pytest.raises(CommandError, match="password"):
        call_command("createadmin", "--email", "a@example.com", "--password", "123", stdout=io.StringIO())
    assert not User.objects.exists()


def test_running_it_again_updates_the_password_instead_of_duplicating():
    from auth.models import User

    call_command("createadmin", "--email", "a@example.com", "--password", "first passphrase", stdout=io.StringIO())
    call_command("createadmin", "--email", "A@example.com", "--password", "second passphrase", stdout=io.StringIO())
    assert User.objects.count() == 1
    assert User.objects.get().check_password("second passphrase")
