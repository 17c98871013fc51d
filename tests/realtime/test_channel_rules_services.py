"""The channel rules' selectors and services, in process: who may read and replace them, what a
replacement stores, and the event that carries it to every process."""

from __future__ import annotations

import pytest

from baas import events
from baas.errors import NotAuthenticated, PermissionDenied, ValidationFailed
from baas.principals import ANONYMOUS, Principal, service_principal, staff_principal
from realtime import channel_rules, selectors, services

SERVICE = service_principal(key_id="k1", name="tests")
STAFF = staff_principal(user_id="s1", email="staff@example.com")
USER = Principal(kind="user", id="u1", role="user")

pytestmark = pytest.mark.django_db


def test_before_the_first_save_the_defaults_are_in_force_at_version_zero():
    rules = selectors.access_channel_rules(SERVICE)
    assert rules.version == 0 and rules.texts == {"join": None, "broadcast": None}
    assert rules.allows(USER, "join", "lobby") and not rules.allows(ANONYMOUS, "join", "lobby")


@pytest.mark.parametrize(("principal", "error"), [(ANONYMOUS, NotAuthenticated), (USER, PermissionDenied)])
def test_only_the_service_role_and_staff_read_or_replace_the_rules(principal, error):
    with pytest.raises(error):
        selectors.access_channel_rules(principal)
    with pytest.raises(error):
        services.replace_channel_rules(body={"join": "true"}, actor=principal)
    assert selectors.channel_rules().version == 0
    assert events.read_after(0, topics=[channel_rules.CHANNEL_RULES_TOPIC]) == []


def test_a_replacement_is_stored_and_announced_in_the_event_log_with_its_version():
    first = services.replace_channel_rules(body={"join": 'channel == "lobby"'}, actor=SERVICE)
    second = services.replace_channel_rules(body={"broadcast": "auth != null"}, actor=STAFF)
    assert (first.version, second.version) == (1, 2)
    assert selectors.channel_rules() == second
    assert second.texts == {"join": None, "broadcast": "auth != null"}
    announced = events.read_after(0, topics=[channel_rules.CHANNEL_RULES_TOPIC])
    assert [(event.kind, event.key) for event in announced] == [(events.UPDATED, "rules")] * 2
    assert announced[1].before == {"join": 'channel == "lobby"', "broadcast": None, "version": 1}
    assert announced[1].after == {"join": None, "broadcast": "auth != null", "version": 2}
    assert channel_rules.from_event(announced[1].after) == second


def test_an_unknown_field_is_refused_in_the_one_shape_and_nothing_is_written():
    with pytest.raises(ValidationFailed) as refused:
        services.replace_channel_rules(body={"join": "true", "lobby": "true"}, actor=SERVICE)
    assert refused.value.details == {
        "lobby": [{"code": "unknown_field", "message": "This field is not accepted here; expected broadcast, join."}]
    }
    assert selectors.channel_rules().version == 0
