"""Auth test helpers: the outbox. The personas (alice, bob, staff…) live in tests/conftest.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core import mail


@pytest.fixture
def outbox(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """`with outbox() as sent:` runs the block, delivers the mail it queued after commit, and gives
    the list of messages."""

    @contextmanager
    def capture() -> Iterator[list[Any]]:
        before = len(mail.outbox)
        sent: list[Any] = []
        with django_capture_on_commit_callbacks(execute=True):
            yield sent
        sent.extend(mail.outbox[before:])

    return capture


def token_in(message: Any) -> str:
    match = re.search(r"code in the app: (\S+)", message.body)
    assert match, message.body
    return match.group(1)
