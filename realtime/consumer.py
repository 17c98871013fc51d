"""`/v1/realtime`: the websocket protocol of API.md (subscribe, resume, broadcast, presence)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from auth import services as auth
from baas import events, jsonvalues
from baas.errors import ApiError, TokenExpired, from_exception
from baas.principals import ANONYMOUS, Principal
from baas.rules.ast import DOCUMENT_FIELDS, OBJECT_FIELDS
from baas.rules.predicate import to_predicate
from baas.rules.validate import parse_filter
from documents import services as documents
from realtime import channel_rules, presence, runtime, topics
from realtime.errors import CloseCode, RealtimeCode, RealtimeError, error_message, problem_with
from realtime.hub import Subscription
from storage import services as storage

logger = logging.getLogger("baas.realtime")

_ENDED_MESSAGES = {
    RealtimeCode.TOKEN_INVALID: "The credentials of this connection are no longer valid (signed out, account "
    "disabled or deleted, or key revoked); connect again with valid ones and resume with `since`.",
    RealtimeCode.TOKEN_EXPIRED: "The access token expired; connect again with a fresh one and resume with `since`.",
}
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:")


class CredentialsEnded(Exception):
    """The connection's credentials were found invalid while handling a message: it is closing."""


class Outbox:
    """A bounded queue of encoded messages, sent by the connection's writer task (`drain`);
    overflowing it marks the client as too slow.

    Bounded in messages and in bytes: a thousand 1 MiB documents must not pile up behind one slow
    reader. A message that arrives at an empty queue is always taken, however large, so that a
    document the size limit lets through can always be delivered.
    """

    def __init__(self, limit: int, on_overflow: Callable[[], None], byte_limit: int | None = None) -> None:
        self.messages: deque[str] = deque()
        self.limit = limit
        self.byte_limit = byte_limit if byte_limit is not None else settings.BAAS_REALTIME_OUTBOX_BYTES
        # Messages are JSON with non-ASCII escaped (json.dumps' default), so characters are bytes.
        self.queued_bytes = 0
        self.on_overflow = on_overflow
        self.overflowed = False
        self._wakeup: asyncio.Future[None] | None = None

    def offer(self, message: str) -> bool:
        if self.overflowed:
            return False
        if self.messages and (len(self.messages) >= self.limit or self.queued_bytes + len(message) > self.byte_limit):
            self.overflowed = True
            self.on_overflow()
            return False
        self.messages.append(message)
        self.queued_bytes += len(message)
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            if not wakeup.done():
                wakeup.set_result(None)
        return True

    async def drain(self, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Send queued messages as they come, forever. `send` is the ASGI send: the server applies
        backpressure there (a client that stops reading makes it wait, and the queue fills)."""
        loop = asyncio.get_running_loop()
        messages = self.messages
        while True:
            while messages:
                message = messages.popleft()
                self.queued_bytes -= len(message)
                await send({"type": "websocket.send", "text": message})
            self._wakeup = loop.create_future()
            await self._wakeup


def _authenticate(token: str) -> tuple[Principal, Any]:
    principal = auth.authenticate_token(token)
    return principal, auth.token_expiry(token)


def _name(value: Any, field: str, limit: int = 100) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or not set(value) <= _ID_CHARS:
        message = f"{field} must be 1 to {limit} letters, digits or _ - . :"
        raise RealtimeError.field(
            RealtimeCode.INVALID_REQUEST, field, message, problem=problem_with(value, expected=str)
        )
    return value


class RealtimeConsumer(AsyncWebsocketConsumer):
    # --- connection lifecycle -------------------------------------------------------------------
    async def connect(self) -> None:
        self.conn_id = uuid.uuid4().hex
        self.principal: Principal = ANONYMOUS
        self.token: str | None = None
        # The credential (session or key id) the connection is registered under in the runtime.
        self.credential: str | None = None
        # When the access token runs out, on the monotonic clock (None: never, or anonymous).
        self.expires_at: float | None = None
        self.ended = False
        self.subs: dict[str, Subscription] = {}
        self.joined: dict[str, dict[str, Any]] = {}
        # Per channel, the members this client has been told about (ids), to keep diffs exact.
        self.known: dict[str, set[str]] = {}
        self.outbox = Outbox(settings.BAAS_REALTIME_OUTBOX, self._overflowed)
        self.last_seen = time.monotonic()
        self.presence_refreshed = self.last_seen
        self.allowance = float(settings.BAAS_REALTIME_RATE)
        self.allowance_at = time.monotonic()
        self.tasks: list[asyncio.Future[Any]] = []
        await self.accept()
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [None])[0]
        principal = expires_at = None
        if token:
            # The tailer first: a revocation committed after the check below must reach us.
            await runtime.ensure_started()
            try:
                principal, expires_at = await database_sync_to_async(_authenticate)(token)
            except ApiError as error:
                await self.send(text_data=error_message(error.code, error.message, error.details))
                await self.close(code=CloseCode.AUTH)
                return
        self.tasks.append(asyncio.ensure_future(self._writer()))
        runtime.watch(self)
        if token:
            self._adopt(token, principal, expires_at)

    def _adopt(self, token: str, principal: Principal, expires_at: Any) -> None:
        """Use freshly checked credentials (on the loop, right after the check)."""
        self.token, self.principal = token, principal
        self.expires_at = None
        if expires_at is not None:
            self.expires_at = time.monotonic() + (expires_at - timezone.now()).total_seconds()
        old, self.credential = self.credential, principal.credential_id
        if not runtime.use_credential(self, old, self.credential):
            self.end_credentials(RealtimeCode.TOKEN_INVALID)

    async def disconnect(self, code: int) -> None:
        self.ended = True
        runtime.unwatch(self)
        for sub in self.subs.values():
            runtime.hub.remove(sub)
        self.subs.clear()
        for channel in list(self.joined):
            await self._leave(channel, announce=True)
        for task in getattr(self, "tasks", []):
            task.cancel()

    async def _writer(self) -> None:
        # Straight to the ASGI send: Channels' send() wrappers only build the same dict.
        await self.outbox.drain(self.base_send)

    def _overflowed(self) -> None:
        self.tasks.append(asyncio.ensure_future(self._cut_slow_consumer()))

    async def _cut_slow_consumer(self) -> None:
        for sub in self.subs.values():
            runtime.hub.remove(sub)
        self.subs.clear()
        message = "You fell too far behind; reconnect and resume with `since`."
        logger.warning("cutting a slow realtime consumer", extra={"connection": self.conn_id})
        limits = {"limit": self.outbox.limit, "byte_limit": self.outbox.byte_limit}
        error = error_message(RealtimeCode.SLOW_CONSUMER, message, limits)
        with contextlib.suppress(Exception):  # the client may be gone or stuck: close regardless
            await asyncio.wait_for(self.send(text_data=error), 2)
        await self.close(code=CloseCode.SLOW_CONSUMER)

    def housekeeping(self, now: float) -> Any:
        """Called about once a second by the process's sweeper (realtime/runtime.py): returns a
        coroutine for the work due on this connection, or None. One sweeper for all connections
        instead of a timer task each: 10,000 idle connections must cost next to nothing."""
        if now - self.last_seen > settings.BAAS_REALTIME_IDLE_SECONDS:
            return self._close_idle()
        if self.expires_at is not None and now >= self.expires_at:
            self.end_credentials(RealtimeCode.TOKEN_EXPIRED)
            return None
        if self.joined and now - self.presence_refreshed >= presence.ttl() / 3:
            self.presence_refreshed = now
            return self._refresh_presence()
        return None

    async def _close_idle(self) -> None:
        self.last_seen = float("inf")  # once
        message = "No message for too long; send a ping now and then."
        details = {"idle_seconds": settings.BAAS_REALTIME_IDLE_SECONDS}
        await self.send(text_data=error_message(RealtimeCode.IDLE_TIMEOUT, message, details))
        await self.close(code=CloseCode.IDLE)

    def end_credentials(self, code: RealtimeCode) -> None:
        """The credentials stopped being valid (revoked, expired): stop every delivery now, then
        send `error` with `code` and close with 4001. Synchronous up to the close, so that a caller
        on the loop (the hub handling a revocation) knows that nothing more reaches this client."""
        if self.ended:
            return
        self.ended = True
        self.expires_at = None
        self.principal = ANONYMOUS
        runtime.stop_using_credential(self, self.credential)
        for sub in self.subs.values():
            runtime.hub.remove(sub)
        self.subs.clear()
        # What is still queued was meant for credentials that are gone: drop it, and accept nothing more.
        self.outbox.messages.clear()
        self.outbox.queued_bytes = 0
        self.outbox.overflowed = True
        self.tasks.append(asyncio.ensure_future(self._close_ended(code)))

    async def _close_ended(self, code: RealtimeCode) -> None:
        # Channels are left by disconnect(), which follows the close; meanwhile the closed outbox
        # takes no broadcast or presence message and receive() answers nothing.
        error = error_message(code, _ENDED_MESSAGES[code])
        with contextlib.suppress(Exception):  # the client may be gone or stuck: close regardless
            await asyncio.wait_for(self.send(text_data=error), 1)
        await self.close(code=CloseCode.AUTH)

    async def _recheck_credentials(self) -> None:
        """Check the connection's token again (before a new subscription or join); raises
        CredentialsEnded, having started the close, when it is no longer valid."""
        if self.token is None:
            return
        try:
            principal, expires_at = await database_sync_to_async(_authenticate)(self.token)
        except TokenExpired:
            self.end_credentials(RealtimeCode.TOKEN_EXPIRED)
            raise CredentialsEnded() from None
        except ApiError as error:
            if error.code != RealtimeCode.TOKEN_INVALID:
                raise
            self.end_credentials(RealtimeCode.TOKEN_INVALID)
            raise CredentialsEnded() from None
        if not self.ended:
            self._adopt(self.token, principal, expires_at)  # fresh claims and role for what follows
        if self.ended:
            raise CredentialsEnded()

    def recheck_soon(self) -> None:
        """Check the credentials in the background (after the tailer skipped events)."""
        if self.token is not None and not self.ended:
            self.tasks.append(asyncio.ensure_future(self._recheck_quietly()))

    async def _recheck_quietly(self) -> None:
        with contextlib.suppress(CredentialsEnded):
            await self._recheck_credentials()

    # --- messages -------------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.ended:
            return  # closing: nothing more is answered
        self.last_seen = time.monotonic()
        message_id = None
        try:
            raw = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
            limit = settings.BAAS_REALTIME_MAX_MESSAGE_BYTES
            if len(raw.encode()) > limit:
                raise RealtimeError(RealtimeCode.TOO_LARGE, f"Messages are limited to {limit} bytes.", {"limit": limit})
            try:
                # The platform's value policy (baas/jsonvalues.py): a broadcast or presence payload
                # holding NUL, a lone surrogate or an unrepresentable number never reaches others.
                message = jsonvalues.loads(raw)
            except jsonvalues.UnacceptableValue as error:
                self._take_allowance()
                raise RealtimeError(RealtimeCode.INVALID_REQUEST, error.message, error.details) from None
            if isinstance(message, dict) and isinstance(message.get("id"), str):
                message_id = message["id"]  # so that a refusal says which request it refuses
            self._take_allowance()  # every message counts, malformed ones too
            if not isinstance(message, dict):
                raise RealtimeError(RealtimeCode.INVALID_REQUEST, "Messages are JSON objects with an op.")
            handler = getattr(self, f"_op_{message.get('op')}", None) if isinstance(message.get("op"), str) else None
            if handler is None:
                raise RealtimeError.field(
                    RealtimeCode.INVALID_REQUEST,
                    "op",
                    f"Unknown op {message.get('op')!r}.",
                    problem=problem_with(message.get("op"), expected=str),
                )
            await handler(message)
        except CredentialsEnded:
            return
        except RealtimeError as error:
            self._error(message_id, error.code, error.message, error.details)
        except Exception as exc:
            # ApiErrors and the rules language's errors keep their code and details (a filter's
            # line and column); anything else is logged and reported as internal_error, and the
            # connection stays up.
            api_error = from_exception(exc)
            self._error(message_id, api_error.code, api_error.message, api_error.details)

    def _take_allowance(self) -> None:
        rate = settings.BAAS_REALTIME_RATE
        now = time.monotonic()
        self.allowance = min(rate * 2, self.allowance + (now - self.allowance_at) * rate)
        self.allowance_at = now
        if self.allowance < 1:
            raise RealtimeError(RealtimeCode.RATE_LIMITED, f"At most {rate} messages a second.", {"limit": rate})
        self.allowance -= 1

    def _error(self, request_id: str | None, code: str, message: str, details: dict[str, Any]) -> None:
        self.outbox.offer(error_message(code, message, details, request_id=request_id))

    async def _reply(self, body: dict[str, Any]) -> None:
        self.outbox.offer(json.dumps(body, separators=(",", ":")))

    async def _op_ping(self, message: dict[str, Any]) -> None:
        await self._reply({"op": "pong"})

    async def _op_auth(self, message: dict[str, Any]) -> None:
        token = message.get("token")
        if not isinstance(token, str) or not token:
            problem = problem_with(token or None, expected=str)
            raise RealtimeError.field(RealtimeCode.INVALID_REQUEST, "token", "auth needs a token.", problem=problem)
        await runtime.ensure_started()  # before the check: see _adopt
        principal, expires_at = await database_sync_to_async(_authenticate)(token)
        if self.ended:
            raise CredentialsEnded()
        if self.principal.kind != "anonymous" and principal.id != self.principal.id:
            raise RealtimeError(RealtimeCode.PERMISSION_DENIED, "A connection cannot switch to another user.")
        self._adopt(token, principal, expires_at)
        if self.ended:
            raise CredentialsEnded()
        for sub in self.subs.values():
            sub.reauthenticate(principal.rules_context(), bypasses_rules=principal.bypasses_rules)
        reply: dict[str, Any] = {"op": "authenticated"}
        if isinstance(message.get("id"), str):
            reply["id"] = message["id"]  # as errors do: says which request it answers
        await self._reply(reply)

    # --- subscriptions --------------------------------------------------------------------------
    async def _op_subscribe(self, message: dict[str, Any]) -> None:
        sub_id = _name(message.get("id"), "id", 64)
        if sub_id in self.subs:
            raise RealtimeError(RealtimeCode.CONFLICT, f"A subscription with id {sub_id!r} is active already.")
        limit = settings.BAAS_REALTIME_MAX_SUBSCRIPTIONS
        if len(self.subs) >= limit:
            raise RealtimeError(
                RealtimeCode.TOO_MANY, f"At most {limit} subscriptions per connection.", {"limit": limit}
            )
        if "collection" in message:
            topic, own_fields = topics.document_topic(_name(message["collection"], "collection", 63)), DOCUMENT_FIELDS
        elif "bucket" in message:
            topic, own_fields = topics.bucket_topic(_name(message["bucket"], "bucket", 63)), OBJECT_FIELDS
        else:
            reason = "subscribe needs a collection or a bucket."
            raise RealtimeError.field(RealtimeCode.INVALID_REQUEST, "collection", reason, problem="required")
        since = message.get("since")
        if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
            reason = "since must be a seq the server sent."
            problem = problem_with(since, expected=int)
            raise RealtimeError.field(RealtimeCode.INVALID_REQUEST, "since", reason, problem=problem)
        await self._recheck_credentials()  # a revoked or expired credential opens nothing new
        filter_text = message.get("filter")
        predicate = filter_node = None
        if filter_text is not None:
            if not isinstance(filter_text, str):
                reason = "filter must be a string."
                raise RealtimeError.field(RealtimeCode.INVALID_FILTER, "filter", reason, problem="invalid_type")
            filter_node = parse_filter(filter_text, own_fields=own_fields)
            predicate = to_predicate(filter_node, data_key=topics.data_key(topic))
        rules = await database_sync_to_async(topics.rules_of)(topic)
        hub = await runtime.ensure_started()
        sub = Subscription(
            connection=self.outbox,
            sub_id=sub_id,
            topic=topic,
            auth=self.principal.rules_context(),
            bypasses_rules=self.principal.bypasses_rules,
            filter=predicate,
            filter_node=filter_node,
            filter_text=filter_text,
        )
        snapshot = bool(message.get("snapshot"))
        if since is None and not snapshot:
            if self.ended:
                raise CredentialsEnded()  # ended while we looked up the rules
            sub.position, sub.live = hub.position, True
            hub.add(sub)
            self.subs[sub_id] = sub
            await self._reply({"op": "subscribed", "id": sub_id, "seq": sub.position})
            return
        if self.ended:
            raise CredentialsEnded()  # ended while we looked up the rules
        hub.add(sub)  # buffers live events while we catch up
        self.subs[sub_id] = sub
        try:
            await self._catch_up(sub, rules, since, snapshot, message, filter_text)
        except BaseException:
            hub.remove(sub)
            self.subs.pop(sub_id, None)
            raise

    async def _catch_up(
        self,
        sub: Subscription,
        rules: Any,
        since: int | None,
        snapshot: bool,
        message: dict[str, Any],
        filter_text: str | None,
    ) -> None:
        hub = runtime.hub
        if snapshot:
            if "collection" in message:
                read = database_sync_to_async(_snapshot)(self.principal, message["collection"], filter_text)
            else:
                read = database_sync_to_async(_bucket_snapshot)(self.principal, message["bucket"], sub)
            position, docs = await read
            sub.position = position
            await self._reply({"op": "subscribed", "id": sub.sub_id, "seq": position})
            await self._reply({"op": "snapshot", "id": sub.sub_id, "docs": docs, "seq": position})
        else:
            sub.position = since or 0
            if since is not None:
                oldest = await database_sync_to_async(events.pruned_through)()
                if since < oldest:
                    raise RealtimeError(
                        RealtimeCode.RESYNC_REQUIRED,
                        "Events after this seq are no longer kept; reload and resubscribe.",
                        {"oldest_since": oldest},  # the smallest `since` that can still be resumed from
                    )
            await self._reply({"op": "subscribed", "id": sub.sub_id, "seq": sub.position})
        while True:
            batch = await database_sync_to_async(events.read_after)(sub.position, topics=[sub.topic], limit=500)
            if not batch:
                break
            for event in batch:
                hub.replay(sub, event, rules)
            if sub.overflowed:
                raise RealtimeError(
                    RealtimeCode.SLOW_CONSUMER,
                    "Too many changes arrived while replaying; resume with `since`.",
                    {"limit": sub.max_buffer},
                )
        hub.go_live(sub, rules)

    async def _op_unsubscribe(self, message: dict[str, Any]) -> None:
        sub_id = _name(message.get("id"), "id", 64)
        sub = self.subs.pop(sub_id, None)
        if sub is None:
            raise RealtimeError(RealtimeCode.NOT_FOUND, f"No subscription {sub_id!r}.")
        runtime.hub.remove(sub)
        await self._reply({"op": "unsubscribed", "id": sub_id})

    # --- channels: broadcast and presence -------------------------------------------------------
    def _group(self, channel: str) -> str:
        return f"rt.{channel}"

    def _member(self, state: Any) -> dict[str, Any]:
        """What the other members see of this one: the connection's id, the user's id (null for the
        service role and anonymous callers: a key's name is not theirs to see) and the state the
        client chose to publish — never email, role or claims."""
        user = self.principal.id if self.principal.kind == "user" else None
        return {"id": self.conn_id, "user": user, "state": state if isinstance(state, dict) else {}}

    async def _check_channel(self, operation: str, channel: str) -> None:
        rules = await runtime.channel_rules_in_force()
        if not rules.allows(self.principal, operation, channel):
            verb = "join" if operation == "join" else "broadcast to"
            message = f"The channel rules do not let you {verb} {channel!r}."
            raise RealtimeError(RealtimeCode.PERMISSION_DENIED, message, {"operation": operation})

    def recheck_channels(self) -> None:
        """The channel rules changed: leave, with an error, every channel the new join rule refuses."""
        rules = channel_rules.current()
        if rules is None or self.ended:
            return
        for channel in list(self.joined):
            if not rules.allows(self.principal, "join", channel):
                self.tasks.append(asyncio.ensure_future(self._evict(channel)))

    async def _evict(self, channel: str) -> None:
        await self._leave(channel, announce=True)
        message = f"The channel rules changed and no longer let you in {channel!r}."
        self.outbox.offer(
            error_message(RealtimeCode.PERMISSION_DENIED, message, {"operation": "join"}, channel=channel)
        )

    async def _op_join(self, message: dict[str, Any]) -> None:
        channel = _name(message.get("channel"), "channel", 90)
        state = message.get("presence")
        if state is not None and not isinstance(state, dict):
            reason = "presence must be an object."
            raise RealtimeError.field(RealtimeCode.INVALID_REQUEST, "presence", reason, problem="invalid_type")
        limit = settings.BAAS_REALTIME_MAX_SUBSCRIPTIONS
        if len(self.joined) >= limit and channel not in self.joined:
            raise RealtimeError(RealtimeCode.TOO_MANY, f"At most {limit} channels per connection.", {"limit": limit})
        await self._recheck_credentials()
        await self._check_channel("join", channel)
        member = self._member(state)
        self.joined[channel] = member
        await self.channel_layer.group_add(self._group(channel), self.channel_name)
        store = presence.store()
        await database_sync_to_async(store.put)(channel, self.conn_id, member)
        others = await database_sync_to_async(store.members)(channel)
        others.pop(self.conn_id, None)
        self.known[channel] = set(others)
        await self._reply({"op": "presence", "channel": channel, "joins": list(others.values()), "leaves": []})
        await self.channel_layer.group_send(
            self._group(channel),
            {"type": "rt.presence", "channel": channel, "joins": [member], "leaves": [], "from": self.conn_id},
        )

    async def _op_leave(self, message: dict[str, Any]) -> None:
        channel = _name(message.get("channel"), "channel", 90)
        if channel not in self.joined:
            raise RealtimeError(RealtimeCode.NOT_FOUND, f"Not in channel {channel!r}.")
        await self._leave(channel, announce=True)

    async def _leave(self, channel: str, *, announce: bool) -> None:
        member = self.joined.pop(channel, None)
        if member is None:
            return  # left meanwhile (an eviction and a leave may cross)
        self.known.pop(channel, None)
        await self.channel_layer.group_discard(self._group(channel), self.channel_name)
        removed = await database_sync_to_async(presence.store().remove)(channel, self.conn_id)
        if announce and removed:
            await self.channel_layer.group_send(
                self._group(channel),
                {"type": "rt.presence", "channel": channel, "joins": [], "leaves": [member], "from": self.conn_id},
            )

    async def _refresh_presence(self) -> None:
        store = presence.store()
        for channel, member in self.joined.items():
            await database_sync_to_async(store.put)(channel, self.conn_id, member)
            gone = await database_sync_to_async(store.expire)(channel)
            if gone:
                await self.channel_layer.group_send(
                    self._group(channel),
                    {"type": "rt.presence", "channel": channel, "joins": [], "leaves": gone, "from": None},
                )

    async def _op_broadcast(self, message: dict[str, Any]) -> None:
        channel = _name(message.get("channel"), "channel", 90)
        if channel not in self.joined:
            raise RealtimeError(RealtimeCode.NOT_FOUND, f"Join {channel!r} before broadcasting to it.")
        await self._check_channel("broadcast", channel)
        member = self.joined.get(channel)
        if member is None:  # evicted while the rules were looked up
            raise RealtimeError(RealtimeCode.NOT_FOUND, f"Join {channel!r} before broadcasting to it.")
        event = message.get("event")
        if not isinstance(event, str) or not event or len(event) > 100:
            reason = "broadcast needs an event name of up to 100 characters."
            problem = problem_with(event or None, expected=str)
            raise RealtimeError.field(RealtimeCode.INVALID_REQUEST, "event", reason, problem=problem)
        await self.channel_layer.group_send(
            self._group(channel),
            {
                "type": "rt.broadcast",
                "channel": channel,
                "event": event,
                "payload": message.get("payload"),
                "from": self.conn_id,
                "user": member["user"],  # as the presence entry shows it
            },
        )

    async def rt_broadcast(self, message: dict[str, Any]) -> None:
        if message["from"] == self.conn_id or message["channel"] not in self.joined:
            return  # not to the sender, nor to a connection that left (or was evicted) meanwhile
        await self._reply(
            {
                "op": "broadcast",
                "channel": message["channel"],
                "event": message["event"],
                "payload": message["payload"],
                "from": {"id": message["from"], "user": message["user"]},
            }
        )

    async def rt_presence(self, message: dict[str, Any]) -> None:
        """Forward a presence diff, reduced to what changes this client's view: a layer may deliver
        a join this client already saw in its initial state, or a leave twice."""
        channel = message["channel"]
        if message["from"] == self.conn_id or channel not in self.joined:
            return
        known = self.known.setdefault(channel, set())
        joins = [m for m in message["joins"] if m["id"] not in known and m["id"] != self.conn_id]
        leaves = [m for m in message["leaves"] if m["id"] in known]
        known.update(m["id"] for m in joins)
        known.difference_update(m["id"] for m in leaves)
        if joins or leaves:
            await self._reply({"op": "presence", "channel": channel, "joins": joins, "leaves": leaves})


def _too_large(limit: int, what: str) -> RealtimeError:
    # A partial snapshot would look complete to the client: refuse instead, and say what works.
    return RealtimeError(
        RealtimeCode.SNAPSHOT_TOO_LARGE,
        f"More than {limit} {what} match: narrow the filter, or subscribe without `snapshot` and read "
        f"the current {what} page by page over REST (changes carry each one's version).",
        {"limit": limit},
    )


def _bucket_snapshot(principal: Principal, bucket: str, sub: Subscription) -> tuple[int, list[dict[str, Any]]]:
    """The bucket's objects the caller may read and that match the subscription's filter, and the
    log position they reflect, read in one consistent snapshot (as `_snapshot` does for documents).

    The read rule is applied by storage in SQL; the filter is the subscription's compiled
    predicate, the one live events are matched with, so snapshot and live changes agree."""
    limit = settings.BAAS_REALTIME_SNAPSHOT_LIMIT
    now = timezone.now()
    found: list[dict[str, Any]] = []
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        position = events.latest_seq()
        after: str | None = None
        page_size = max(limit, 100)
        while True:
            rows = storage.list_readable_objects(principal=principal, bucket=bucket, after=after, limit=page_size)
            for obj in rows[:page_size]:
                if sub.filter is None or sub.filter(obj, auth=sub.auth, now=now):
                    found.append(obj)
                    if len(found) > limit:
                        raise _too_large(limit, "objects")
            if len(rows) <= page_size:
                break
            after = rows[page_size - 1]["path"]
    return position, found


def _snapshot(principal: Principal, collection: str, filter_text: str | None) -> tuple[int, list[dict[str, Any]]]:
    """The matching documents and the log position they reflect, read in one consistent snapshot."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        position = events.latest_seq()
        limit = settings.BAAS_REALTIME_SNAPSHOT_LIMIT
        page = documents.list_documents(principal=principal, collection=collection, filter=filter_text, limit=limit)
    if page["next_cursor"] is not None:
        raise _too_large(limit, "documents")
    return position, page["items"]
