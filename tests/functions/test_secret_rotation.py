"""Function secrets survive a key rotation: the old key in SECRET_KEY_FALLBACKS keeps them readable,
and reading them re-encrypts them under the new key. Without the old key they are unreadable with a
clear error code (`secrets_unreadable`), never a 500 and never a run without them."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from tests.functions.conftest import HELLO, deploy, invoke

pytestmark = pytest.mark.slow  # deploys functions: each deploy starts a sandbox (tests/process_level.py)

OLD_KEY, NEW_KEY = "the-old-secret-key-" + "a" * 40, "the-new-secret-key-" + "b" * 40


def _version(name: str):  # type: ignore[no-untyped-def]
    from functions.models import FunctionVersion

    return FunctionVersion.objects.select_related("function").get(function__name=name)


@pytest.mark.parametrize("setting", ["SECRET_KEY", "FUNCTIONS_SECRETS_KEY"])
def test_rotating_with_the_old_key_as_fallback_keeps_secrets_readable(settings, setting: str) -> None:  # type: ignore[no-untyped-def]
    from functions import secrets as function_secrets

    settings.FUNCTIONS_SECRETS_KEY = None
    setattr(settings, setting, OLD_KEY)
    stored = function_secrets.encrypt({"TOKEN": "v1"})

    # Rotate: the new key in place, the old one among the fallbacks.
    setattr(settings, setting, NEW_KEY)
    settings.SECRET_KEY_FALLBACKS = [OLD_KEY]
    assert function_secrets.decrypt(stored) == {"TOKEN": "v1"}
    renewed = function_secrets.refresh(stored)
    assert renewed is not None and renewed != stored

    # Once re-encrypted, the old key is no longer needed; the old token is unreadable without it.
    settings.SECRET_KEY_FALLBACKS = []
    assert function_secrets.decrypt(renewed) == {"TOKEN": "v1"}
    assert function_secrets.refresh(renewed) is None  # nothing to write: already under the current key
    with pytest.raises(function_secrets.SecretsUnreadable):
        function_secrets.decrypt(stored)


def test_a_worker_reading_secrets_under_an_old_key_re_encrypts_the_row(service_api, settings) -> None:  # type: ignore[no-untyped-def]
    from functions import secrets as function_secrets
    from functions import services

    settings.FUNCTIONS_SECRETS_KEY = OLD_KEY
    assert deploy(service_api, "rotating", HELLO, secrets={"TOKEN": "v1"}).status_code == 201
    before = _version("rotating").secrets_encrypted

    settings.FUNCTIONS_SECRETS_KEY = NEW_KEY
    settings.SECRET_KEY_FALLBACKS = [OLD_KEY]
    assert services.spec_for(_version("rotating")).env["TOKEN"] == "v1"  # what a worker does before a run
    after = _version("rotating").secrets_encrypted
    assert after != before

    settings.SECRET_KEY_FALLBACKS = []  # the old key may go now
    assert function_secrets.decrypt(after) == {"TOKEN": "v1"}
    with pytest.raises(function_secrets.SecretsUnreadable):
        function_secrets.decrypt(before)


def test_secrets_no_key_opens_fail_the_invocation_with_a_clear_code(functions_api, settings) -> None:  # type: ignore[no-untyped-def]
    # Deployed under a key the worker does not have (as if the old key left SECRET_KEY_FALLBACKS).
    settings.FUNCTIONS_SECRETS_KEY = Fernet.generate_key().decode()
    assert deploy(functions_api, "locked", HELLO, secrets={"TOKEN": "v1"}).status_code == 201
    response = invoke(functions_api, "locked", 1)
    assert response.status_code == 200, response.content
    invocation = response.json()["invocation"]
    assert invocation["status"] == "failed"
    assert invocation["error"]["code"] == "secrets_unreadable"
    assert "SECRET_KEY_FALLBACKS" in invocation["error"]["message"]
    assert invocation["logs"] == ""  # the code never ran
