"""The Realtime page, driven in chromium while real websocket clients are connected: connections,
subscriptions per collection, channels with presence, and the channel rules."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.conftest import NARROW, Site, new_page, sign_in
from tests.console.ops import PAGE_BYTES_BUDGET, fits_a_phone, load_figures
from tests.realtime.conftest import Client, connect

pytestmark = pytest.mark.slow


class Clients:
    """Websocket clients on their own thread and event loop (Playwright's sync API owns this
    thread's), kept connected until the test ends."""

    def __init__(self, site: Site, collection: str, channel: str, user_token: str) -> None:
        self.site, self.collection, self.channel, self.user_token = site, collection, channel, user_token
        self.ready = threading.Event()
        self.done = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        try:
            async with (
                connect(self.site.server, self.site.server.key) as first,
                connect(self.site.server, self.user_token) as second,
            ):
                service, user = Client(first), Client(second)
                for sub_id in ("a", "b"):
                    await service.send(op="subscribe", id=sub_id, collection=self.collection)
                    await service.expect("subscribed", id=sub_id)
                await user.send(op="join", id="j", channel=self.channel, presence={"name": "ann"})
                await user.expect("presence", channel=self.channel)
                self.ready.set()
                while not self.done.is_set():
                    await asyncio.sleep(0.1)
        except BaseException as error:
            self.failure = error
            self.ready.set()


@pytest.fixture
def clients(site: Site) -> Iterator[Clients]:
    collection, channel = f"notes{uuid.uuid4().hex[:6]}", f"room-{uuid.uuid4().hex[:6]}"
    site.server.rest("POST", "/v1/db/collections", {"name": collection, "rules": {"read": "true"}})
    user = site.app_user()
    running = Clients(site, collection, channel, user["access"])
    running.user_id = user["user"]["id"]  # type: ignore[attr-defined]
    running.thread.start()
    assert running.ready.wait(30)
    assert running.failure is None, running.failure
    yield running
    running.done.set()
    running.thread.join(10)


def test_connections_subscriptions_and_presence_are_shown(operator_page: Any, site: Site, clients: Clients) -> None:
    page = operator_page
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Realtime").click()
    page.wait_for_url(site.url("/console/realtime/"))
    assert "this server process" in page.locator("#coverage").inner_text()
    assert int(page.locator("#connection-count").inner_text()) >= 2
    subscriptions = page.locator("#subscriptions").get_by_role("row").filter(has_text=clients.collection)
    assert subscriptions.get_by_role("cell").all_inner_texts() == [clients.collection, "2"]
    channel = page.locator("#channels").get_by_role("row").filter(has_text=clients.channel)
    assert channel.get_by_role("cell").nth(1).inner_text() == "1"
    presence = channel.get_by_role("cell").nth(2).inner_text()
    assert clients.user_id in presence and "ann" in presence  # type: ignore[attr-defined]
    connections = page.locator("#connections")
    assert connections.get_by_role("row").filter(has_text=f"db/{clients.collection}").count() == 1
    assert connections.get_by_role("row").filter(has_text=clients.channel).get_by_text("user").count() == 1
    # The Overview counts the same open websockets.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Overview").click()
    page.wait_for_url(site.url("/console/"))
    assert int(page.locator('[data-figure="realtime"]').inner_text()) >= 2
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Realtime").click()
    page.wait_for_url(site.url("/console/realtime/"))

    # When the clients leave, a refresh shows them gone.
    clients.done.set()
    clients.thread.join(10)
    page.get_by_role("link", name="Refresh").click()
    page.wait_for_load_state("load")
    assert page.locator("#subscriptions").get_by_text(clients.collection).count() == 0


def test_channel_rules_are_shown_and_changed(operator_page: Any, site: Site) -> None:
    page = operator_page
    page.goto(site.url("/console/realtime/"))
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Join rule").fill('channel == "lobby" || auth.role == "user"')
    page.get_by_role("button", name="Save channel rules").click()
    page.get_by_text("Channel rules saved.").wait_for()
    stored = site.server.rest("GET", "/v1/realtime/channels/rules")
    assert stored["join"] == 'channel == "lobby" || auth.role == "user"'
    assert page.get_by_label("Join rule").input_value() == stored["join"]
    page.get_by_label("Join rule").fill("")
    page.get_by_role("button", name="Save channel rules").click()
    page.get_by_text("Channel rules saved.").wait_for()
    assert site.server.rest("GET", "/v1/realtime/channels/rules")["join"] is None


def test_a_rule_naming_anything_but_the_channel_is_refused(browser: Any, site: Site, page_problems: list) -> None:
    page = new_page(browser, page_problems, expected_console_errors=("status of 400",))
    sign_in(page, site)
    page.wait_for_url(site.url("/console/"))
    page.goto(site.url("/console/realtime/"))
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Broadcast rule").fill("resource.owner == auth.id")
    page.get_by_role("button", name="Save channel rules").click()
    page.get_by_role("alert").get_by_text("unknown name", exact=False).wait_for()
    assert site.server.rest("GET", "/v1/realtime/channels/rules")["broadcast"] is None
    page.context.close()
    for problems in page_problems:
        problems.assert_clean()


def test_the_form_needs_the_csrf_token_and_the_page_fits_a_phone(browser: Any, site: Site, page_problems: list) -> None:
    page = new_page(browser, page_problems, viewport=NARROW)
    sign_in(page, site)
    page.wait_for_url(site.url("/console/"))
    answer = page.request.post(site.url("/console/realtime/channel-rules"), form={"rule_join": "false"})
    assert answer.status == 403
    page.goto(site.url("/console/realtime/"))
    page.wait_for_load_state("load")
    figures = load_figures(page)
    print(f"\n/console/realtime/: first paint {figures['first_paint_ms']} ms, {figures['bytes']} bytes")
    assert 0 < figures["bytes"] <= PAGE_BYTES_BUDGET
    assert fits_a_phone(page)
    page.context.close()
    for problems in page_problems:
        problems.assert_clean()
