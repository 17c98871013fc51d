"""`Idempotency-Key` on POST/PUT/PATCH/DELETE: a retry gets the first answer, nothing is written twice.

Reserve, run, complete. A request with a key first inserts a row for (caller, method, path, key):
the unique `scope` makes exactly one of several racing requests the runner. It runs the view, then
stores the answer (status < 500, and not 401/403/429, which a retry should meet afresh) in the
row; any other outcome deletes the row so the retry runs for real. A request finding the row
- with another body fingerprint → 422 `idempotency_key_reused`;
- still running → 409 `idempotency_key_in_use`, until `locked_until`, after which a crashed
  runner's row is taken over (BAAS_IDEMPOTENCY_LOCK_SECONDS);
- completed → the stored answer, with `Idempotent-Replayed: true`.
Rows live BAAS_IDEMPOTENCY_TTL_SECONDS (24 h): an expired row counts as absent, and
`baas.tasks.purge_idempotency_keys` deletes them.

Object uploads (PUT/POST /v1/storage/objects/…) stream their body to storage, so it is not
buffered: their fingerprint is the method, path and the headers that describe the body
(Content-Length, Content-Type but for a multipart boundary, X-Baas-Metadata). Only a successful
upload is remembered (a cut-off body must be sent again for real). A replayed raw (PUT) upload is
read through without storing anything, and its SHA-256 must equal the first upload's ETag, else
422 `idempotency_key_reused`; a multipart body's bytes are not compared.
Other bodies over BAAS_MAX_BODY_BYTES pass through with the key ignored. Every JSON body is
covered, object deletes too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.module_loading import import_string

from baas import errors
from baas.models import IdempotencyKey

Handler = Callable[[HttpRequest], HttpResponse]

HEADER_META = "HTTP_IDEMPOTENCY_KEY"
_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_VALID_KEY = re.compile(r"[\x20-\x7e]{1,255}")
_NOT_REMEMBERED = frozenset({401, 403, 429})
_UPLOAD_PREFIX = "/v1/storage/objects/"
_UPLOAD_CHUNK = 256 * 1024


class IdempotencyMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self._principal_of = import_string(settings.BAAS_IDEMPOTENCY_PRINCIPAL)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.META.get(HEADER_META)
        if key is None or request.method not in _METHODS:  # the common case: one dict lookup
            return self.get_response(request)
        if not _VALID_KEY.fullmatch(key):
            return errors.error_response(
                errors.InvalidRequest(
                    "Idempotency-Key must be 1 to 255 visible ASCII characters (no control characters).",
                    details={"header": "Idempotency-Key"},
                )
            )
        upload = _is_upload(request)
        if not upload and not _bufferable(request):
            return self.get_response(request)
        caller = self._caller(request)
        if caller is None:  # credentials the view will refuse: nothing to remember
            return self.get_response(request)
        path = request.get_full_path()
        scope = _sha256(caller, request.method, path, key)
        fingerprint = _upload_fingerprint(request, path) if upload else _sha256(request.method, path, request.body)
        answer = _reserve(scope, fingerprint)
        if answer is not None:
            return _check_replayed_upload(request, answer) if upload else answer
        try:
            response = self.get_response(request)
        except BaseException:
            IdempotencyKey.objects.filter(scope=scope).delete()
            raise
        _complete(scope, response, only_success=upload)
        return response

    def _caller(self, request: HttpRequest) -> str | None:
        """Who the key belongs to: the principal of bearer credentials, the console session, or the
        client address for anonymous callers."""
        try:
            principal = self._principal_of(request)
        except Exception:
            return None
        if principal is not None:
            return f"{principal.kind}:{principal.id}:{principal.credential_id or ''}"
        session = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if session:
            return "session:" + session
        return "address:" + request.META.get("REMOTE_ADDR", "")


def _bufferable(request: HttpRequest) -> bool:
    """Whether the body may be read here: not a streamed upload (its view reads wsgi.input itself)."""
    has_body = request.META.get("CONTENT_LENGTH") not in (None, "", "0") or request.META.get("HTTP_TRANSFER_ENCODING")
    if has_body and request.path.startswith(settings.BAAS_BODY_LIMIT_EXEMPT_PREFIXES):
        return False
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    if length == 0 and request.META.get("HTTP_TRANSFER_ENCODING"):
        return False  # chunked: of unknown size
    return length <= settings.BAAS_MAX_BODY_BYTES


def _is_upload(request: HttpRequest) -> bool:
    return request.method in ("PUT", "POST") and request.path.startswith(_UPLOAD_PREFIX)


def _upload_fingerprint(request: HttpRequest, path: str) -> str:
    """What describes a streamed upload without reading it (a multipart boundary changes per send)."""
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type.startswith("multipart/"):
        content_type, length = "multipart", ""
    else:
        length = request.META.get("CONTENT_LENGTH", "")
    return _sha256(
        request.method or "", path, "upload", content_type, length, request.META.get("HTTP_X_BAAS_METADATA", "")
    )


def _check_replayed_upload(request: HttpRequest, answer: HttpResponse) -> HttpResponse:
    """A replayed raw upload: read its body (storing nothing); it must be the bytes first uploaded."""
    etag = answer.get("ETag", "").strip('"')
    if request.method != "PUT" or answer.status_code >= 300 or not etag:
        return answer
    digest = hashlib.sha256()
    while chunk := request.read(_UPLOAD_CHUNK):
        digest.update(chunk)
    if digest.hexdigest() != etag:
        return errors.error_response(errors.IdempotencyKeyReused(details={"header": "Idempotency-Key"}))
    return answer


def _sha256(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def _reserve(scope: str, fingerprint: str) -> HttpResponse | None:
    """Make this request the runner of its key (None), or the answer for it when another was."""
    now = timezone.now()
    locked_until = now + timedelta(seconds=settings.BAAS_IDEMPOTENCY_LOCK_SECONDS)
    expires_at = now + timedelta(seconds=settings.BAAS_IDEMPOTENCY_TTL_SECONDS)
    for _ in range(3):
        # Read first: a replay (the usual retry) then takes no write lock at all.
        found = IdempotencyKey.objects.filter(scope=scope).first()
        if found is None:
            try:
                with transaction.atomic():
                    IdempotencyKey.objects.create(
                        scope=scope, fingerprint=fingerprint, locked_until=locked_until, expires_at=expires_at
                    )
                return None
            except IntegrityError:  # another request with this key got in first
                continue
        if found.expires_at <= now:
            IdempotencyKey.objects.filter(pk=found.pk, expires_at__lte=now).delete()
            continue
        if found.fingerprint != fingerprint:
            return errors.error_response(errors.IdempotencyKeyReused(details={"header": "Idempotency-Key"}))
        if not found.running:
            return _replay(found)
        taken = IdempotencyKey.objects.filter(pk=found.pk, running=True, locked_until__lte=now).update(
            locked_until=locked_until, expires_at=expires_at
        )
        if taken:  # its runner crashed: this request runs instead
            return None
        break
    return errors.error_response(
        errors.Conflict(
            "A request with this Idempotency-Key is still running; retry after it ends.",
            code="idempotency_key_in_use",
            details={"header": "Idempotency-Key"},
            headers={"Retry-After": "1"},
        )
    )


def _complete(scope: str, response: HttpResponse, *, only_success: bool = False) -> None:
    status = response.status_code
    forget = status >= 500 or status in _NOT_REMEMBERED or (only_success and status >= 300)
    if forget or getattr(response, "streaming", False):
        IdempotencyKey.objects.filter(scope=scope).delete()
        return
    headers = {name: response[name] for name in settings.BAAS_IDEMPOTENCY_REPLAYED_HEADERS if response.has_header(name)}
    IdempotencyKey.objects.filter(scope=scope).update(
        running=False, status=status, headers=headers, body=response.content
    )


def _replay(found: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(bytes(found.body), status=found.status)
    response.headers.pop("Content-Type", None)
    for name, value in found.headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def purge_expired() -> int:
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
