"""The embedded task queue: kombu's filesystem transport, with messages published atomically.

kombu's own `_put` creates the message file and then writes into it, so a worker polling the
folder at that moment reads an empty or partial file and its consumer dies on the JSON error. Here
a message is written under a temporary name that the consumer's scan never matches, then renamed
into place — a rename is atomic on one filesystem, so a reader sees all of a message or nothing.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from time import monotonic
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.json import dumps

ALIAS = "baasfs"


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
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


class Transport(filesystem.Transport):
    Channel = Channel


def register() -> None:
    """Make `baasfs://` a broker URL kombu understands (called when the Celery app is built)."""
    TRANSPORT_ALIASES[ALIAS] = "baas.queue:Transport"
