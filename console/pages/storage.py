"""The console's Storage page: buckets (create, settings and rules, delete) and a bucket's objects
seen as folders (browse, upload with progress, image preview, signed links, delete).

Everything goes through storage's services and selectors as the operator's staff principal, so the
audit log (kept inside the services) records bucket changes made here like those made over the API.
Uploads stream: the browser sends the file as the raw request body and `upload_object` reads it in
chunks into the blob store, never whole in memory.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import messages
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from baas.errors import InvalidRequest
from console.access import principal, staff_page
from console.navigation import context
from console.pages.opsforms import REFUSALS, checked, messages_of, status_of
from storage import selectors, services
from storage.payloads import object_payload
from storage.rules import BUCKET_RULES
from storage.streams import raw_body

# Types the preview shows inline: raster images only. Anything else (SVG and HTML included, which
# could run script on the console's origin) is never served from the console.
PREVIEWABLE = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp")
PREVIEW_POLICY = "default-src 'none'; sandbox"
SIGNED_LINK_SECONDS = 3600


def _bucket_form(request: HttpRequest, *, with_name: bool) -> dict[str, Any]:
    """The bucket body the services take, from the console's form (empty fields mean "none")."""
    post = request.POST
    fields: dict[str, Any] = {"public": checked(post.get("public"))}
    if with_name:
        fields["name"] = post.get("name", "").strip()
    raw_size = post.get("max_size", "").strip()
    if raw_size:
        if not raw_size.isdigit():
            raise InvalidRequest("Max size is a whole number of bytes (or empty for no limit of the bucket's own).")
        fields["max_size"] = int(raw_size)
    else:
        fields["max_size"] = None
    fields["allowed_types"] = [item.strip() for item in post.get("allowed_types", "").split(",") if item.strip()]
    fields["rules"] = {op: (post.get(f"rule_{op}", "").strip() or None) for op in BUCKET_RULES.operations}
    return fields


def _index_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    buckets = selectors.list_buckets(principal=principal(request), after=None, limit=500)[:500]
    form = extra.pop("form", None)
    rules = [(op, form.get(f"rule_{op}", "") if form else "") for op in BUCKET_RULES.operations]
    values: dict[str, Any] = {}
    if form:
        values = {
            "name": form.get("name", ""),
            "public_checked": checked(form.get("public")),
            "max_size": form.get("max_size", ""),
            "allowed_types": form.get("allowed_types", ""),
        }
    return context(request, "storage", buckets=buckets, rules=rules, **values, **extra)


@staff_page
@require_GET
def page(request: HttpRequest) -> HttpResponse:
    return render(request, "console/storage/index.html", _index_context(request))


@staff_page
@require_POST
def create(request: HttpRequest) -> HttpResponse:
    try:
        bucket = services.create_bucket(principal=principal(request), fields=_bucket_form(request, with_name=True))
    except REFUSALS as error:
        data = _index_context(request, errors=messages_of(error), form=request.POST)
        return render(request, "console/storage/index.html", data, status=status_of(error))
    messages.success(request, f"Bucket {bucket.name} created.")
    return HttpResponseRedirect(reverse("console:storage-bucket", args=[bucket.name]))


def _bucket_context(request: HttpRequest, name: str, form: Any = None, **extra: Any) -> dict[str, Any]:
    """The bucket page's data; `form`: a refused settings form, shown again as it was sent."""
    bucket = selectors.access_bucket(principal=principal(request), name=name)
    prefix = request.GET.get("prefix", "")
    folders, rows, more = selectors.list_folder(principal=principal(request), bucket=name, prefix=prefix)
    objects = [object_payload(row, bucket.name) for row in rows]
    for item in objects:
        item["name"] = item["path"][len(prefix) :]
        item["previewable"] = item["content_type"] in PREVIEWABLE
    crumbs = []
    walked = ""
    for part in prefix.split("/")[:-1]:
        walked += part + "/"
        crumbs.append((part, walked))
    rules = [(op, (bucket.rules or {}).get(op) or "") for op in BUCKET_RULES.operations]
    values = {
        "public_checked": bucket.public,
        "max_size": bucket.max_size,
        "allowed_types": ", ".join(bucket.allowed_types or []),
    }
    if form is not None:
        rules = [(op, form.get(f"rule_{op}", "")) for op in BUCKET_RULES.operations]
        values = {
            "public_checked": checked(form.get("public")),
            "max_size": form.get("max_size", ""),
            "allowed_types": form.get("allowed_types", ""),
        }
    return context(
        request,
        "storage",
        bucket=bucket,
        prefix=prefix,
        crumbs=crumbs,
        folders=[(folder[len(prefix) : -1], folder) for folder in folders],
        objects=objects,
        more=more,
        rules=rules,
        **values,
        **extra,
    )


@staff_page
@require_GET
def bucket_page(request: HttpRequest, name: str) -> HttpResponse:
    try:
        data = _bucket_context(request, name)
    except REFUSALS as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(reverse("console:storage"))
    return render(request, "console/storage/bucket.html", data)


@staff_page
@require_POST
def update(request: HttpRequest, name: str) -> HttpResponse:
    try:
        services.update_bucket(principal=principal(request), name=name, changes=_bucket_form(request, with_name=False))
    except REFUSALS as error:
        data = _bucket_context(request, name, form=request.POST, errors=messages_of(error))
        return render(request, "console/storage/bucket.html", data, status=status_of(error))
    messages.success(request, f"Bucket {name} saved.")
    return HttpResponseRedirect(reverse("console:storage-bucket", args=[name]))


@staff_page
@require_POST
def delete(request: HttpRequest, name: str) -> HttpResponse:
    try:
        services.delete_bucket(principal=principal(request), name=name)
    except REFUSALS as error:
        messages.error(request, " ".join(messages_of(error)))
        return HttpResponseRedirect(reverse("console:storage-bucket", args=[name]))
    messages.success(request, f"Bucket {name} deleted.")
    return HttpResponseRedirect(reverse("console:storage"))


@staff_page
@require_POST
def upload(request: HttpRequest, name: str) -> JsonResponse:
    """The raw body (one file, sent by storage.js with progress) into the object at ?path=."""
    try:
        body, length = raw_body(request)
        metadata, created = services.upload_object(
            principal=principal(request),
            bucket=name,
            path=request.GET.get("path", ""),
            body=body,
            length=length,
            content_type=request.META.get("CONTENT_TYPE") or None,
        )
    except REFUSALS as error:
        return JsonResponse({"error": " ".join(messages_of(error))}, status=error.http_status)
    # storage.js reloads the folder on success; the flash says what happened there.
    messages.success(request, f"Uploaded {metadata['path']}.")
    return JsonResponse({"object": metadata, "created": created}, status=201)


@staff_page
@require_GET
def preview(request: HttpRequest, name: str) -> HttpResponse:
    """An image's bytes for the preview (<img>); other types are refused, never served here."""
    try:
        _, obj = selectors.access_object(principal=principal(request), bucket=name, path=request.GET.get("path", ""))
    except REFUSALS as error:
        return HttpResponse(error.message, status=error.http_status, content_type="text/plain")
    if obj.content_type not in PREVIEWABLE:
        return HttpResponse("Only images are previewed.", status=415, content_type="text/plain")
    response = StreamingHttpResponse(services.open_object(obj), content_type=obj.content_type)
    response["Content-Length"] = str(obj.size)
    response["Content-Security-Policy"] = PREVIEW_POLICY
    # A streamed answer; staff_page (typed for HttpResponse) only sets headers, which it has too.
    return cast(HttpResponse, response)


@staff_page
@require_POST
def sign(request: HttpRequest, name: str) -> HttpResponse:
    """A signed GET link for the object (htmx swaps it in; storage.js copies it)."""
    object_path = request.POST.get("path", "")
    try:
        relative = services.sign_url(
            principal=principal(request), bucket=name, path=object_path, expires_in=SIGNED_LINK_SECONDS
        )
    except REFUSALS as error:
        return render(request, "console/storage/signed.html", {"errors": messages_of(error)}, status=status_of(error))
    link = relative if relative.startswith(("http://", "https://")) else request.build_absolute_uri(relative)
    data = {"link": link, "path": object_path, "minutes": SIGNED_LINK_SECONDS // 60}
    return render(request, "console/storage/signed.html", data)


@staff_page
@require_POST
def delete_object(request: HttpRequest, name: str) -> HttpResponse:
    object_path = request.POST.get("path", "")
    prefix = object_path.rsplit("/", 1)[0] + "/" if "/" in object_path else ""
    try:
        services.delete_object(principal=principal(request), bucket=name, path=object_path)
    except REFUSALS as error:
        messages.error(request, " ".join(messages_of(error)))
    else:
        messages.success(request, f"Deleted {object_path}.")
    target = reverse("console:storage-bucket", args=[name])
    return HttpResponseRedirect(f"{target}?{urlencode({'prefix': prefix})}" if prefix else target)


urlpatterns = [
    path("", page, name="storage"),
    path("create", create, name="storage-create"),
    path("b/<str:name>/", bucket_page, name="storage-bucket"),
    path("b/<str:name>/settings", update, name="storage-update"),
    path("b/<str:name>/delete", delete, name="storage-delete"),
    # Outside b/<name>/ so that one settings prefix exempts it from BAAS_MAX_BODY_BYTES (it streams).
    path("upload/<str:name>", upload, name="storage-upload"),
    path("b/<str:name>/preview", preview, name="storage-preview"),
    path("b/<str:name>/sign", sign, name="storage-sign"),
    path("b/<str:name>/delete-object", delete_object, name="storage-delete-object"),
]
