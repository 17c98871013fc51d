"""Outgoing webhooks (service key or staff): a collection's or bucket's events POSTed, signed as
Standard Webhooks says, to an HTTPS endpoint. Used by the `baas webhooks` CLI.

    admin = WebhooksAdmin(client)             # an AsyncClient made with service_key=...
    hook = await admin.create("orders-to-crm", "https://crm.example.com/hooks", collection="orders")
    print(hook["secret"])                     # shown this once
    for delivery in (await admin.deliveries("orders-to-crm", status="dead"))["items"]:
        await admin.retry(delivery["id"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._util import enc

if TYPE_CHECKING:
    from .client import AsyncClient


class WebhooksAdmin:
    def __init__(self, client: AsyncClient) -> None:
        self._http = client.http

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self._http.request(method, path, **kwargs)

    async def create(
        self,
        name: str,
        url: str,
        *,
        collection: str | None = None,
        bucket: str | None = None,
        prefix: str | None = None,
        events: list[str] | None = None,
        filter: str | None = None,
        enabled: bool = True,
        secret: str | None = None,
        max_retries: int | None = None,
    ) -> dict[str, Any]:
        """The new webhook, with its `secret` (returned this once)."""
        source: dict[str, Any] = {"collection": collection} if collection is not None else {"bucket": bucket}
        if prefix is not None:
            source["prefix"] = prefix
        body: dict[str, Any] = {"name": name, "url": url, "source": source, "enabled": enabled}
        optional = {"events": events, "filter": filter, "secret": secret, "max_retries": max_retries}
        body.update({key: value for key, value in optional.items() if value is not None})
        return await self._call("POST", "/v1/webhooks", json_body=body)  # type: ignore[no-any-return]

    async def list(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await self._call("GET", "/v1/webhooks", query={"limit": 100, "cursor": cursor})
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    async def get(self, name: str) -> dict[str, Any]:
        return await self._call("GET", f"/v1/webhooks/{enc(name)}")  # type: ignore[no-any-return]

    async def update(self, name: str, **changes: Any) -> dict[str, Any]:
        """Change `url`, `events`, `filter`, `enabled` or `max_retries`."""
        return await self._call("PATCH", f"/v1/webhooks/{enc(name)}", json_body=changes)  # type: ignore[no-any-return]

    async def delete(self, name: str) -> None:
        await self._call("DELETE", f"/v1/webhooks/{enc(name)}")

    async def rotate_secret(self, name: str, *, secret: str | None = None) -> dict[str, Any]:
        """A new secret (in `secret`); the old one still signs until `previous_secret_valid_until`."""
        body = {"secret": secret} if secret else {}
        return await self._call("POST", f"/v1/webhooks/{enc(name)}/rotate-secret", json_body=body)  # type: ignore[no-any-return]

    async def test(self, name: str) -> dict[str, Any]:
        """Queue a `webhook.test` delivery; returns it (poll `delivery(id)` for the outcome)."""
        return await self._call("POST", f"/v1/webhooks/{enc(name)}/test")  # type: ignore[no-any-return]

    async def deliveries(
        self, name: str, *, status: str | None = None, limit: int = 20, cursor: str | None = None
    ) -> dict[str, Any]:
        """A page `{items, next_cursor}` of the webhook's deliveries, newest first."""
        query = {"status": status, "limit": limit, "cursor": cursor}
        return await self._call("GET", f"/v1/webhooks/{enc(name)}/deliveries", query=query)  # type: ignore[no-any-return]

    async def delivery(self, id: str) -> dict[str, Any]:
        return await self._call("GET", f"/v1/webhook-deliveries/{enc(id)}")  # type: ignore[no-any-return]

    async def retry(self, id: str) -> dict[str, Any]:
        """Send a dead (or delivered) delivery again."""
        return await self._call("POST", f"/v1/webhook-deliveries/{enc(id)}/retry")  # type: ignore[no-any-return]
