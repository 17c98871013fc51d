from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypedDict

import httpx

from ._http import Http
from ._util import JsonObject, enc, encode_path
from .db import Page, page

if TYPE_CHECKING:
    from .realtime import Change, Realtime, Subscription

CHUNK = 64 * 1024


class ObjectInfo(TypedDict):
    bucket: str
    path: str
    size: int
    content_type: str
    etag: str
    owner: str | None
    metadata: JsonObject
    created_at: str
    updated_at: str


ProgressCallback = Callable[[int, int], Any]
"""`(loaded, total)`: `loaded` only grows and ends at `total`."""


class Bucket:
    def __init__(self, http: Http, rt: Callable[[], Realtime], name: str) -> None:
        self._http = http
        self._rt = rt
        self.name = name
        self._base = f"/v1/storage/objects/{enc(name)}"

    async def upload(
        self,
        path: str,
        data: bytes | str,
        *,
        content_type: str | None = None,
        metadata: JsonObject | None = None,
        on_progress: ProgressCallback | None = None,
        upsert: bool = True,
    ) -> ObjectInfo:
        """Upload (replacing what is at `path`, unless `upsert=False`: 412 `precondition_failed`). Progress is
        reported as the transport pulls the body, chunk by chunk."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        total = len(raw)
        headers = {"content-type": content_type or "application/octet-stream", "content-length": str(total)}
        if metadata is not None:
            headers["x-baas-metadata"] = json.dumps(metadata)
        if not upsert:
            headers["if-none-match"] = "*"
        sent = 0

        def progress(loaded: int) -> None:
            nonlocal sent
            if on_progress and (loaded > sent or (loaded == total and sent == 0)):
                sent = max(sent, loaded)
                on_progress(sent, total)

        def body() -> bytes | AsyncIterator[bytes]:
            if not on_progress:
                return raw

            async def chunks() -> AsyncIterator[bytes]:
                for at in range(0, total, CHUNK):
                    end = min(total, at + CHUNK)
                    yield raw[at:end]
                    progress(end)

            return chunks()

        info: ObjectInfo = await self._http.request(
            "PUT", f"{self._base}/{encode_path(path)}", headers=headers, body=body
        )
        progress(total)
        return info

    async def download(self, path: str, *, range: tuple[int, int | None] | str | None = None) -> httpx.Response:
        """The answer (`.content`, `.status_code` 200 or 206, `.headers`).

        `range=(start, end)` (inclusive) or `"bytes=…"`."""
        r = range
        rng = r if isinstance(r, str) else (f"bytes={r[0]}-{'' if r[1] is None else r[1]}" if r else None)
        return await self._http.request(  # type: ignore[no-any-return]
            "GET", f"{self._base}/{encode_path(path)}", headers={"range": rng} if rng else None, raw=True
        )

    async def remove(self, path: str) -> None:
        await self._http.request("DELETE", f"{self._base}/{encode_path(path)}")

    async def list(
        self, *, prefix: str | None = None, cursor: str | None = None, limit: int | None = None
    ) -> Page[ObjectInfo]:
        return page(
            await self._http.request("GET", self._base, query={"prefix": prefix, "cursor": cursor, "limit": limit})
        )

    async def iterate(self, *, prefix: str | None = None, limit: int | None = None) -> AsyncIterator[ObjectInfo]:
        cursor: str | None = None
        while True:
            p = await self.list(prefix=prefix, cursor=cursor, limit=limit)
            for o in p.items:
                yield o
            cursor = p.next_cursor
            if not cursor:
                return

    async def signed_url(self, path: str, expires_in: int | None = None) -> str:
        """A time-limited GET URL that needs no other credentials."""
        r = await self._http.request(
            "POST",
            f"/v1/storage/sign/{enc(self.name)}/{encode_path(path)}",
            json_body={"expires_in": expires_in} if expires_in else {},
        )
        return str(r["url"])

    async def subscribe(
        self,
        on_change: Callable[[Change], Any],
        *,
        filter: str | None = None,
        snapshot: bool = False,
        on_error: Callable[[Any], Any] | None = None,
    ) -> Subscription:
        """Live object events (`doc` is the object's metadata); `snapshot=True` delivers the current matching
        objects first, as `added` with `snapshot: True`."""
        return await self._rt().subscribe(
            {"bucket": self.name}, on_change, filter=filter, snapshot=snapshot, on_error=on_error
        )


class Storage:
    def __init__(self, http: Http, rt: Callable[[], Realtime]) -> None:
        self._http = http
        self._rt = rt

    def bucket(self, name: str) -> Bucket:
        return Bucket(self._http, self._rt, name)
