"""The per-process realtime runtime: one hub, one tailer and one sweeper, started on first use.

It also knows which connection uses which credential (a session or a service key), so that the
event announcing a credential's end (auth's `CREDENTIALS_TOPIC`, read by the tailer like any
other event) closes those connections at once, on every process.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections import OrderedDict
from typing import Any

from channels.db import database_sync_to_async

from auth.services import CREDENTIALS_TOPIC
from baas import events
from baas.events import EventRecord
from realtime import census as census_module
from realtime import channel_rules, selectors
from realtime.errors import RealtimeCode
from realtime.hub import Hub
from realtime.tailer import Tailer

logger = logging.getLogger("baas.realtime")

hub = Hub()
_tailer: Tailer | None = None
_lock = asyncio.Lock()
_connections: set[Any] = set()
_sweeper: asyncio.Task[None] | None = None
# Connections by the credential they authenticated with (Principal.credential_id).
_by_credential: dict[str, set[Any]] = {}
# Credentials whose end this process has seen lately: a connection that was authenticating while
# the announcement went by is caught when it registers (see `use_credential`).
_recently_ended: OrderedDict[str, None] = OrderedDict()
RECENTLY_ENDED_MAX = 10_000
# How often the sweeper runs: token expiry must close a connection within a second.
SWEEP_SECONDS = 0.5


async def ensure_started() -> Hub:
    """Start the tailer from the newest event, once per process (on the running event loop)."""
    global _tailer
    if _tailer is not None and _tailer.is_alive():
        return hub
    async with _lock:
        if _tailer is None or not _tailer.is_alive():
            # The tailer thread needs the GIL briefly many times per batch; with the default 5 ms
            # switch interval a busy event loop made each hand-over cost up to 5 ms.
            sys.setswitchinterval(0.0005)
            _install_control_handlers()
            start = await database_sync_to_async(events.latest_seq)()
            hub.position = start
            _tailer = Tailer(hub, asyncio.get_running_loop(), start)
            _tailer.start()
    return hub


def _install_control_handlers() -> None:
    hub.control[CREDENTIALS_TOPIC] = _credential_ended
    hub.control[channel_rules.CHANNEL_RULES_TOPIC] = _channel_rules_changed
    hub.on_gap = _recheck_everyone


async def channel_rules_in_force() -> channel_rules.ChannelRuleSet:
    """The channel rules this process applies: loaded once (after the tailer started, so that no
    change is missed between the load and the tailer), then kept current by the tailer."""
    await ensure_started()
    rules = channel_rules.current()
    if rules is None:
        channel_rules.adopt(await database_sync_to_async(selectors.channel_rules)())
        rules = channel_rules.current()
    assert rules is not None
    return rules


def _channel_rules_changed(event: EventRecord) -> None:
    """New channel rules: apply them, and re-check every member of this process's channels."""
    if event.after is not None and channel_rules.adopt(channel_rules.from_event(event.after)):
        for connection in list(_connections):
            connection.recheck_channels()


def _credential_ended(event: EventRecord) -> None:
    """A session or service key stopped being valid: close every connection using it, now (on the
    loop, in log order, so no event committed after the end reaches them)."""
    credential = event.key
    _recently_ended[credential] = None
    _recently_ended.move_to_end(credential)
    while len(_recently_ended) > RECENTLY_ENDED_MAX:
        _recently_ended.popitem(last=False)
    for connection in list(_by_credential.pop(credential, ())):
        connection.end_credentials(RealtimeCode.TOKEN_INVALID)


def _recheck_everyone() -> None:
    """The tailer skipped events (retention overtook it): check every connection's credentials."""
    channel_rules.forget()  # reloaded at the next use
    for connection in list(_connections):
        connection.recheck_soon()


def use_credential(connection: Any, old: str | None, new: str | None) -> bool:
    """Record which credential a connection now uses; False when it is known to have ended already.

    Must be called on the loop after the credential was checked (the tailer must have been started
    before that check): an end committed after the check is either delivered after this call (the
    index finds the connection) or before it (`_recently_ended` remembers it).
    """
    if old is not None and old != new:
        stop_using_credential(connection, old)
    if new is None:
        return True
    if new in _recently_ended:
        return False
    _by_credential.setdefault(new, set()).add(connection)
    return True


def stop_using_credential(connection: Any, credential: str | None) -> None:
    if credential is None:
        return
    users = _by_credential.get(credential)
    if users is not None:
        users.discard(connection)
        if not users:
            del _by_credential[credential]


# Connections the sweeper looks after between two pauses for the event loop.
SWEEP_PAUSE_EVERY = 256

# Allocations (net) between two young-generation collections; Python's default is 700.
YOUNG_GC_THRESHOLD = 10_000


def _tune_garbage_collection() -> None:
    """Make full garbage collections rare in a process that holds many websocket connections.

    Thousands of connections are millions of long-lived objects, and a full collection visits them
    all while the event loop waits: 0.3 to 1 s pauses were measured with 5,000 subscribers. With the
    default young threshold (700) the in-flight objects of each delivery (futures, frames, events)
    were often still alive at a collection and got promoted, which triggered a full collection
    every few seconds under load. With a larger young generation they die young instead. Not too
    large, though: on a slower machine (session 3, bench/realtime.py, 5,000 subscribers at 200
    writes/s) p99 was 227-300 ms at 50,000, 69-76 ms at 10,000, 119 ms at 5,000, 152 ms at 2,000
    and 211 ms at 200,000; with collection off altogether, 72 ms. Process-wide, so also for REST
    threads.
    """
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(YOUNG_GC_THRESHOLD, young), middle, old)


def watch(connection: Any) -> None:
    """Have the sweeper look after a connection (idle timeout, token expiry, presence refresh)."""
    global _sweeper
    _connections.add(connection)
    if _sweeper is None or _sweeper.done():
        _tune_garbage_collection()
        _sweeper = asyncio.get_running_loop().create_task(_sweep())


def unwatch(connection: Any) -> None:
    _connections.discard(connection)
    stop_using_credential(connection, getattr(connection, "credential", None))


def census() -> list[census_module.ConnectionView]:
    """This process's connections as operators see them (realtime.census)."""
    return census_module.local(_connections)


def position() -> int | None:
    """The last event this process's tailer handed to the subscriptions; None if it does not run."""
    if _tailer is None or not _tailer.is_alive():
        return None
    return hub.position


def _publish_census(loop: asyncio.AbstractEventLoop) -> None:
    """Hand this process's summary to other processes (Redis), off the loop; failures only log."""
    summary = census_module.summarize(census(), position())

    def publish() -> None:
        try:
            census_module.publish(summary)
        except Exception:
            logger.warning("realtime: publishing the census failed", exc_info=True)

    loop.run_in_executor(None, publish)


async def _sweep() -> None:
    background: set[asyncio.Task[Any]] = set()
    loop = asyncio.get_running_loop()
    published = 0.0
    while _connections:
        await asyncio.sleep(SWEEP_SECONDS)
        now = time.monotonic()
        if now - published >= census_module.CENSUS_SECONDS:
            published = now
            _publish_census(loop)
        for index, connection in enumerate(list(_connections)):
            if index and index % SWEEP_PAUSE_EVERY == 0:
                # Thousands of connections take milliseconds: let deliveries through meanwhile.
                await asyncio.sleep(0)
            if connection not in _connections:
                continue  # gone during the pause
            try:
                work = connection.housekeeping(now)
            except Exception:
                logger.exception("realtime housekeeping failed")
                continue
            if work is not None:
                task = asyncio.ensure_future(work)
                background.add(task)
                task.add_done_callback(background.discard)
    _publish_census(loop)  # none left: other processes' views drop this one now, not at expiry
