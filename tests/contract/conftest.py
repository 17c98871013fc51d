"""Fixtures of the contract tests: the world (tests/contract/world.py) and the tools rows use."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.core import mail
from rest_framework.test import APIClient

from tests.contract.world import World, world_fixture


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """The world, committed once per module; each test's own writes are rolled back (`db`)."""
    yield from world_fixture(django_db_blocker)


@dataclass
class Tools:
    outbox: Callable[[], Any]
    anonymous: APIClient

    @staticmethod
    def token_in(message: Any) -> str:
        match = re.search(r"code in the app: (\S+)", message.body)
        assert match, message.body
        return match.group(1)


@pytest.fixture
def tools(django_capture_on_commit_callbacks: Any) -> Tools:
    @contextmanager
    def outbox() -> Iterator[list[Any]]:
        before = len(mail.outbox)
        sent: list[Any] = []
        with django_capture_on_commit_callbacks(execute=True):
            yield sent
        sent.extend(mail.outbox[before:])

    return Tools(outbox=outbox, anonymous=APIClient())
