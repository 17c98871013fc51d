"""The embedded task queue: kombu's filesystem transport, made safe and quick for a worker.

Three changes to kombu's transport:

- Atomic publish. kombu's own `_put` creates the message file and then writes into it, so a worker
  polling the folder at that moment reads an empty or partial file and its consumer dies on the
  JSON error. Here a message is written under a temporary name that the consumer's scan never
  matches, then renamed into place — a rename is atomic on one filesystem, so a reader sees all of
  a message or nothing.
- One folder listing for many messages. kombu lists and sorts the whole folder for every message
  it takes (quadratic in a backlog: 5,000 waiting messages cost ~5 ms each) and moves each file
  away before reading it. Here a listing is kept, oldest first, and served until it runs out; a
  message is taken by reading it and then unlinking it: of several consumers that read one file,
  only the one whose unlink succeeds delivers it. Messages published after the listing are newer,
  so first in, first out still holds. An empty queue lists again after a publish to it in this
  process, or after a polling interval (stretched so that listing a big backlog, e.g. for the
  nearly always empty control queue, takes at most a tenth of the consumer's time).
- Wake-ups instead of sleeping the whole polling interval, within one process. A publish (the
  worker's own dispatch tailer sends most of a worker's messages) and an ack (a pool slot is free
  again, prefetch allows the next message) wake this process's consumer at once. Messages from
  other processes are still found by polling every `polling_interval` (BAAS_QUEUE_POLL_MS).
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections import deque
from queue import Empty
from time import monotonic, monotonic_ns
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.json import dumps, loads

ALIAS = "baasfs"

# Set by a publish or an ack in this process; the consumer's wait between polls ends on it.
_activity = threading.Event()
# Messages published by this process, per queue: a consumer lists the folder again when it changed.
_published: dict[str, int] = {}


def _age_order(name: str) -> tuple[int, str]:
    """Names start with the publish time (monotonic clock): sort on its value, not as a string
    (kombu's own millisecond names, e.g. left from an older version, are not zero-padded)."""
    stamp, _, _ = name.partition("_")
    return (int(stamp) if stamp.isdigit() else 0, name)


class Channel(filesystem.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[str, deque[str]] = {}  # per queue: listed names not yet taken, oldest first
        self._listed_at = float("-inf")
        self._listing_cost = 0.0
        self._listed_published: dict[str, int] = {}

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        # Named by the publish time in nanoseconds (kombu: milliseconds, so messages published
        # within one millisecond came out in random order): the consumer takes the oldest first.
        name = f"{monotonic_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # No ".msg" in the temporary name: the consumer only picks files named "*.<queue>.msg".
        temporary = os.path.join(self.data_folder_out, f".incoming-{uuid.uuid4().hex}")
        try:
            with open(temporary, "wb") as handle:
                handle.write(dumps(payload).encode())
            os.rename(temporary, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc
        _published[queue] = _published.get(queue, 0) + 1
        _activity.set()

    def _get(self, queue: str) -> Any:
        if self.store_processed:
            return super()._get(queue)
        pending = self._pending.get(queue)
        if not pending and self._may_list(queue):
            self._list()
            pending = self._pending.get(queue)
        while pending:
            path = os.path.join(self.data_folder_in, pending.popleft())
            try:
                with open(path, "rb") as handle:
                    payload = handle.read()
                os.unlink(path)  # the claim: one consumer's unlink succeeds, the others skip the file
            except FileNotFoundError:
                continue  # another consumer took it
            except OSError as exc:
                raise filesystem.ChannelError(f"Cannot read file {path!r} from queue.") from exc
            return loads(payload)
        raise Empty()

    def _may_list(self, queue: str) -> bool:
        """List the folder again only when something may have arrived for `queue`: a publish to it
        in this process since the last listing, or a polling interval gone by (other processes'
        messages) — stretched so that listing a big backlog takes at most a tenth of the time (the
        worker also polls its control queue, which is nearly always empty)."""
        if _published.get(queue, 0) != self._listed_published.get(queue, 0):
            return True
        interval = max(self.connection.polling_interval * 0.9, 10 * self._listing_cost)
        return monotonic() - self._listed_at >= interval

    def _list(self) -> None:
        started = monotonic()
        self._listed_published = dict(_published)  # before listing: a publish during it lists again
        pending: dict[str, deque[str]] = {}
        for name in sorted(os.listdir(self.data_folder_in), key=_age_order):
            queue, dot, ext = name.partition(".")[2].rpartition(".")
            if dot and ext == "msg":
                pending.setdefault(queue, deque()).append(name)
        self._pending = pending
        self._listed_at = monotonic()
        self._listing_cost = self._listed_at - started

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)
        _activity.set()  # prefetch may let the consumer take the next message now

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue)
        _activity.set()


class Transport(filesystem.Transport):
    Channel = Channel

    def drain_events(self, connection: Any, timeout: float | None = None) -> None:
        """kombu's loop, except that the pause between empty polls ends early on `_activity`."""
        started = monotonic()
        interval = self.polling_interval
        if timeout and interval and interval > timeout:
            interval = timeout
        while True:
            _activity.clear()  # before polling: a publish during the poll keeps the event set
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                if timeout is not None and monotonic() - started >= timeout:
                    raise TimeoutError() from None
                if interval is not None:
                    _activity.wait(interval)


def register() -> None:
    """Make `baasfs://` a broker URL kombu understands (called when the Celery app is built)."""
    TRANSPORT_ALIASES[ALIAS] = "baas.queue:Transport"
