"""The Collections page's data browser: filter, order, cursor paging, and one document viewed,
edited, created or deleted as JSON. Every write goes through the documents service, which
validates it (JSON object, schema, unique indexes): a refused write changes nothing.

Paging is forward-only in the API (`next_cursor`); "Previous" works by carrying the cursors of
the pages already seen in the address (`trail`), so every page is a plain, bookmarkable GET.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from baas.errors import ApiError, NotFound
from baas.rules import RulesError
from console.access import principal, staff_page
from console.navigation import context
from console.pages.collections import parse_json, pretty, problem
from documents import services

PAGE_SIZE = 20
# Cursors are base64url text, so "~" never occurs inside one; the first page's cursor is "".
TRAIL_SEPARATOR = "~"


def browse_url(name: str, **query: str) -> str:
    kept = {key: value for key, value in query.items() if value}
    return reverse("console:collection-documents", args=[name]) + (f"?{urlencode(kept)}" if kept else "")


def document_url(name: str, doc_id: str) -> str:
    return reverse("console:collection-document", args=[name, doc_id])


def caret(text: str, line: int, column: int) -> str:
    """The line of `text` an error is on, with a caret under its column."""
    lines = text.split("\n")
    shown = lines[line - 1] if 0 < line <= len(lines) else ""
    return f"{shown}\n{' ' * max(0, column - 1)}^"


@staff_page
@require_GET
def browse(request: HttpRequest, name: str) -> HttpResponse:
    filter_text = request.GET.get("filter", "").strip()
    order = request.GET.get("order", "").strip()
    cursor = request.GET.get("cursor", "")
    trail = [part for part in request.GET.get("trail", "").split(TRAIL_SEPARATOR)] if "trail" in request.GET else []
    view: dict[str, Any] = {"name": name, "filter": filter_text, "order": order, "items": [], "page_size": PAGE_SIZE}
    status = 200
    try:
        services.get_collection(name=name)
    except NotFound as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(reverse("console:collections"))
    try:
        found = services.list_documents(
            principal=principal(request),
            collection=name,
            filter=filter_text or None,
            order=order or None,
            limit=PAGE_SIZE,
            cursor=cursor or None,
        )
    except (ApiError, RulesError) as error:
        view["error"] = problem(error)
        if isinstance(error, RulesError) and error.code == "invalid_filter":
            view["error"]["caret"] = caret(filter_text, error.line, error.column)
        status = 400
    else:
        view["items"] = [{**item, "json": pretty(item["data"])} for item in found["items"]]
        common = {"filter": filter_text, "order": order}
        if found["next_cursor"]:
            view["next_url"] = browse_url(
                name, **common, cursor=found["next_cursor"], trail=TRAIL_SEPARATOR.join([*trail, cursor])
            )
        if cursor:
            back_trail = trail[:-1]
            back = {"trail": TRAIL_SEPARATOR.join(back_trail)} if back_trail else {}
            view["previous_url"] = browse_url(name, **common, cursor=trail[-1] if trail else "", **back)
        view["page_number"] = len(trail) + 2 if cursor else 1
    return render(request, "console/collections/documents.html", context(request, "collections", **view), status=status)


@staff_page
def new_document(request: HttpRequest, name: str) -> HttpResponse:
    view: dict[str, Any] = {"name": name, "doc_id": "", "data_text": "{\n}\n", "creating": True}
    if request.method == "POST":
        doc_id = request.POST.get("doc_id", "").strip()
        text = request.POST.get("data", "")
        view.update(doc_id=doc_id, data_text=text)
        try:
            data = parse_json(text, "document")
            created = services.create_document(
                principal=principal(request), collection=name, data=data, doc_id=doc_id or None
            )
        except (ApiError, RulesError) as error:
            view["error"] = problem(error)
            return render(
                request, "console/collections/document.html", context(request, "collections", **view), status=400
            )
        messages.success(request, f"Document {created['id']} created.")
        return HttpResponseRedirect(document_url(name, created["id"]))
    return render(request, "console/collections/document.html", context(request, "collections", **view))


@staff_page
def document(request: HttpRequest, name: str, doc_id: str) -> HttpResponse:
    operator = principal(request)
    try:
        stored = services.get_document(principal=operator, collection=name, doc_id=doc_id)
    except ApiError as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(browse_url(name))
    view: dict[str, Any] = {"name": name, "doc": stored, "doc_id": doc_id, "data_text": pretty(stored["data"])}
    if request.method == "POST":
        text = request.POST.get("data", "")
        view["data_text"] = text
        try:
            data = parse_json(text, "document")
            version = int(request.POST.get("version", ""))
            services.set_document(principal=operator, collection=name, doc_id=doc_id, data=data, if_version=version)
        except ValueError:
            view["error"] = {"message": "The form lost the document's version; reload the page.", "lines": []}
        except (ApiError, RulesError) as error:
            view["error"] = problem(error)
        else:
            messages.success(request, "Document saved.")
            return HttpResponseRedirect(document_url(name, doc_id))
        return render(request, "console/collections/document.html", context(request, "collections", **view), status=400)
    return render(request, "console/collections/document.html", context(request, "collections", **view))


@staff_page
@require_POST
def delete_document(request: HttpRequest, name: str, doc_id: str) -> HttpResponse:
    try:
        services.delete_document(principal=principal(request), collection=name, doc_id=doc_id)
    except ApiError as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(document_url(name, doc_id))
    messages.success(request, f"Document {doc_id} deleted.")
    return HttpResponseRedirect(browse_url(name))


urlpatterns = [
    path("", browse, name="collection-documents"),
    path("new", new_document, name="collection-document-new"),
    path("id/<str:doc_id>", document, name="collection-document"),
    path("id/<str:doc_id>/delete", delete_document, name="collection-document-delete"),
]
