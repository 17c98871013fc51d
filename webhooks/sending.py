"""One webhook attempt over HTTP: resolve the endpoint's name once, check every address against
the platform's egress rules (baas/egress.py), and POST to exactly a checked address — the URL's
name still goes in the Host header and in TLS (SNI and certificate check), so HTTPS works as for
the name while a rebinding DNS server gets no second lookup. Redirects are not followed (a 3xx is
a failed attempt), the answer is read no further than a short snippet, and the whole attempt has
a timeout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from django.conf import settings

from baas import egress as egress_rules

USER_AGENT = "baas-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None  # None: no answer (refused, unreachable, timed out)
    duration_ms: int
    error: str  # "" when the endpoint answered 2xx
    response: str  # the start of the answer's body
    final: bool = False  # retrying cannot help (egress refused, 410 Gone)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    started = time.monotonic()

    def outcome(status: int | None, error: str, response: str = "", final: bool = False) -> Outcome:
        return Outcome(status, int((time.monotonic() - started) * 1000), error, response, final)

    target = httpx.URL(url)
    if target.scheme != "https" and not (target.scheme == "http" and settings.WEBHOOKS_ALLOW_HTTP):
        return outcome(None, "egress_refused: the URL is not https (WEBHOOKS_ALLOW_HTTP is off)", final=True)
    host, port = target.host, target.port or (443 if target.scheme == "https" else 80)
    try:
        destinations = egress_rules.resolve(host, port, settings.WEBHOOKS_EGRESS_ALLOW)
    except egress_rules.Forbidden as refused:
        return outcome(None, f"egress_refused: {refused}", final=True)
    except egress_rules.Unresolvable as failure:
        return outcome(None, f"unresolvable: {failure}")
    failures = []
    for destination in destinations:
        try:
            status, snippet = _send(target, str(destination.address), body, headers)
        except httpx.TimeoutException:
            return outcome(None, f"timeout: no answer within {settings.WEBHOOKS_TIMEOUT_SECONDS} s")
        except httpx.ConnectError as failure:
            failures.append(f"{destination.address}: {failure}")
            continue
        except httpx.HTTPError as failure:
            return outcome(None, f"http_error: {failure}")
        if 200 <= status < 300:
            return outcome(status, "", snippet)
        if status == 410:
            return outcome(status, "gone: the endpoint answered 410 (the webhook is disabled)", snippet, final=True)
        kind = "redirect (not followed)" if 300 <= status < 400 else "the endpoint answered"
        return outcome(status, f"http_status: {kind} {status}", snippet)
    return outcome(None, f"unreachable: {'; '.join(failures)}")


def _send(target: httpx.URL, address: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST to `address` as if to `target`'s host; the status and the start of the answer."""
    host_header = target.host if target.port is None else f"{target.host}:{target.port}"
    request_headers = {
        **headers,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": host_header,
    }
    timeout = httpx.Timeout(settings.WEBHOOKS_TIMEOUT_SECONDS)
    limit = settings.WEBHOOKS_RESPONSE_BYTES
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        request = client.build_request(
            "POST",
            target.copy_with(host=address),
            content=body,
            headers=request_headers,
            extensions={"sni_hostname": target.host},
        )
        response = client.send(request, stream=True)
        try:
            received = b""
            for chunk in response.iter_raw():
                received += chunk
                if len(received) >= limit:
                    break
        finally:
            response.close()
    return response.status_code, received[:limit].decode("utf-8", "replace").replace("\x00", "\ufffd")
