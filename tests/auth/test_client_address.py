"""The client's address comes from X-Forwarded-For only as far as trusted proxies wrote it, is
always a valid IP address, and so decides rate limits and lockouts (issue 14, item 8)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from auth.models import Session
from baas.client_address import client_address, trusted_networks
from tests.auth.test_rate_limits import assert_limited
from tests.auth.test_token import login

pytestmark = pytest.mark.django_db

OUTSIDE = "203.0.113.7"  # a client on the internet, talking to baas directly
PROXY = "10.0.0.2"


@pytest.fixture
def behind_proxy(settings):  # type: ignore[no-untyped-def]
    settings.BAAS_TRUSTED_PROXIES = ["10.0.0.0/24"]
    settings.AUTH_TRUSTED_PROXY_COUNT = 0


@pytest.fixture
def tight(settings):  # type: ignore[no-untyped-def]
    def set_rate(name: str, limit: int, window: int = 60) -> None:
        settings.AUTH_RATE_LIMITS = {**settings.AUTH_RATE_LIMITS, name: (limit, window)}

    return set_rate


NETS = trusted_networks(("10.0.0.0/24", "fd00::/8"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "hops", "expected"),
    [
        (OUTSIDE, "1.1.1.1", 0, OUTSIDE),  # untrusted peer: its header is ignored
        (PROXY, "1.1.1.1", 0, "1.1.1.1"),
        (PROXY, "6.6.6.6, 1.1.1.1", 0, "1.1.1.1"),  # the client's own entries are never reached
        (PROXY, "6.6.6.6, 1.1.1.1, 10.0.0.9", 0, "1.1.1.1"),  # right-most untrusted
        (PROXY, "not-an-ip", 0, PROXY),
        (PROXY, "6.6.6.6, unknown", 0, PROXY),
        (PROXY, "x" * 10_000, 0, PROXY),
        (PROXY, "1.2.3.4:5678", 0, "1.2.3.4"),
        (PROXY, "[2001:db8::1]:443", 0, "2001:db8::1"),
        (PROXY, "2001:DB8:0::1", 0, "2001:db8::1"),
        (PROXY, "::ffff:1.2.3.4", 0, "1.2.3.4"),
        (PROXY, "fe80::1%eth0", 0, PROXY),
        (PROXY, '"1.2.3.4"', 0, "1.2.3.4"),
        (PROXY, "1.2.3.4 5.6.7.8", 0, PROXY),
        (PROXY, "\x00", 0, PROXY),
        (PROXY, ",,, ,", 0, PROXY),
        (PROXY, ", ".join(["10.0.0.3"] * 5000), 0, "10.0.0.3"),
        ("fd00::5", "1.1.1.1", 0, "1.1.1.1"),
        (OUTSIDE, "6.6.6.6, 1.1.1.1", 1, "1.1.1.1"),  # hop count: the last hop is believed
        (OUTSIDE, "6.6.6.6, 1.1.1.1", 2, "6.6.6.6"),
        (OUTSIDE, "", 1, OUTSIDE),
        (None, "1.1.1.1", 0, None),
        ("::ffff:203.0.113.7", "", 0, OUTSIDE),
    ],
)
def test_the_address_is_the_right_most_untrusted_valid_one(peer, forwarded, hops, expected):
    assert client_address(peer, forwarded, NETS, hops) == expected


def test_trusting_everyone_is_refused():
    with pytest.raises(ImproperlyConfigured):
        trusted_networks(("*",))
    with pytest.raises(ImproperlyConfigured):
        trusted_networks(("proxy.internal",))


def test_a_spoofed_header_from_an_untrusted_peer_buys_no_fresh_budget(api, tight, behind_proxy):
    tight("anonymous:ip", 1)
    assert api.post("/v1/auth/anonymous", REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR="1.1.1.1").status_code == 201
    for spoof in ("2.2.2.2", "3.3.3.3, 4.4.4.4", "10.0.0.2", "garbage"):
        assert_limited(api.post("/v1/auth/anonymous", REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR=spoof))


def test_behind_a_trusted_proxy_each_client_has_its_own_budget(api, tight, behind_proxy):
    tight("anonymous:ip", 1)
    assert api.post("/v1/auth/anonymous", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="1.1.1.1").status_code == 201
    assert api.post("/v1/auth/anonymous", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="2.2.2.2").status_code == 201
    # What the client itself put left of the proxy's entry changes nothing.
    assert_limited(api.post("/v1/auth/anonymous", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="9.9.9.9, 1.1.1.1"))


def test_a_spoofed_header_does_not_escape_the_lockout(api, alice, settings, behind_proxy):
    settings.AUTH_LOCKOUT_ADDRESS_THRESHOLD = 3
    settings.AUTH_LOCKOUT_ACCOUNT_THRESHOLD = 100
    for index in range(3):
        response = login(api, password="wrong passphrase", REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR=f"5.5.5.{index}")
        assert response.status_code == 401
    assert login(api, REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR="5.5.5.99").status_code == 429


GARBAGE = [
    "evil",
    "x" * 20_000,
    ",".join(["1.1.1.1"] * 3000),
    "2001:db8::1",
    "[2001:db8::2]:8080",
    "1.2.3.4:5678",
    "fe80::1%eth0",
    "999.1.1.1",
    "::ffff:1.2.3.4",
    "\u00e9t\u00e9",
    "1.1.1.1, evil",
    "",
]


@pytest.mark.parametrize("forwarded", GARBAGE, ids=range(len(GARBAGE)))
@pytest.mark.parametrize("peer", [PROXY, OUTSIDE])
@pytest.mark.parametrize("hops", [0, 1])
def test_garbage_forwarded_values_never_fail(api, alice, settings, behind_proxy, forwarded, peer, hops):
    settings.AUTH_TRUSTED_PROXY_COUNT = hops
    extra = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded}
    response = api.post("/v1/auth/anonymous", **extra)
    assert response.status_code == 201, response.content
    response = login(api, **extra)
    assert response.status_code == 200, response.content
    import ipaddress

    for session in Session.objects.all():
        ipaddress.ip_address(session.ip)  # stored as a valid address


def test_only_a_trusted_proxy_may_say_https(rf, behind_proxy):
    from baas.middleware import ClientAddressMiddleware

    seen = {}

    def view(request):  # type: ignore[no-untyped-def]
        seen["secure"] = request.META.get("HTTP_X_FORWARDED_PROTO")
        seen["forwarded_for"] = request.META.get("HTTP_X_FORWARDED_FOR")
        seen["address"] = request.META["REMOTE_ADDR"]

    middleware = ClientAddressMiddleware(view)
    middleware(rf.get("/", REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_FOR="1.1.1.1"))
    assert seen == {"secure": None, "forwarded_for": None, "address": OUTSIDE}
    middleware(rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_FOR="1.1.1.1"))
    assert seen == {"secure": "https", "forwarded_for": None, "address": "1.1.1.1"}
