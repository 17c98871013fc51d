"""The console's Collections page: the list, create and delete, and one collection's rules (checked
as typed), rules simulator, schema and indexes. The data browser is `collections_data`.

Everything goes through the documents service with the operator's staff principal; the services
validate (and record the audit log), the page only shows what they answer.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import include, path, reverse
from django.views.decorators.http import require_GET, require_POST

from auth import selectors as users
from baas.errors import ApiError
from baas.principals import ANONYMOUS, Principal
from baas.rules import RulesError
from console.access import principal, staff_page
from console.navigation import context
from documents import selectors, services

OPERATIONS = ("read", "create", "update", "delete")
Failure = ApiError | RulesError


def problem(error: Failure) -> dict[str, Any]:
    """An error of a service as the templates show it: the sentence, and each field's messages."""
    lines = []
    for field, entries in (error.details or {}).items():
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict) and "message" in entry:
                    where = entry.get("pointer") or field
                    lines.append(f"{where}: {entry['message']}")
    return {"message": error.message, "lines": lines, "details": error.details}


def parse_json(text: str, what: str) -> Any:
    """The JSON in a form field; an ApiError naming the line and column of a syntax error."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ApiError(
            f"The {what} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def detail_url(name: str, anchor: str = "") -> str:
    return reverse("console:collection", args=[name]) + (f"#{anchor}" if anchor else "")


# --- the list ---------------------------------------------------------------------------------------


@staff_page
def page(request: HttpRequest) -> HttpResponse:
    return _list(request)


def _list(
    request: HttpRequest, *, form: dict[str, str] | None = None, error: dict[str, Any] | None = None
) -> HttpResponse:
    rows = services.list_collections()
    collections = [
        {
            "name": row.name,
            "documents": services.count_documents(principal=principal(request), collection=row.name),
            "indexes": len(row.indexes or []),
            "has_schema": bool(row.schema),
            "rules": [operation for operation in OPERATIONS if (row.rules or {}).get(operation)],
        }
        for row in rows
    ]
    extra = {"collections": collections, "form": form or {}, "error": error, "operations": OPERATIONS}
    return render(
        request,
        "console/collections/index.html",
        context(request, "collections", **extra),
        status=400 if error else 200,
    )


@staff_page
@require_POST
def create(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "").strip()
    rules = {operation: request.POST.get(operation, "").strip() or None for operation in OPERATIONS}
    try:
        services.create_collection(name=name, rules=rules, actor=principal(request))
    except (ApiError, RulesError) as error:
        return _list(request, form={"name": name, **{k: v or "" for k, v in rules.items()}}, error=problem(error))
    messages.success(request, f"Collection {name} created.")
    return HttpResponseRedirect(detail_url(name))


# --- one collection ---------------------------------------------------------------------------------


@staff_page
@require_GET
def detail(request: HttpRequest, name: str) -> HttpResponse:
    return _detail(request, name)


def _detail(request: HttpRequest, name: str, status: int = 200, **extra: Any) -> HttpResponse:
    try:
        found = services.get_collection(name=name)
        states = selectors.index_states(collection=name)
    except ApiError as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(reverse("console:collections"))
    stored_rules = found.rules or {}
    values = {
        "rules": extra.pop("rules", None) or {operation: stored_rules.get(operation) or "" for operation in OPERATIONS},
        "schema_text": extra.pop("schema_text", None) or (pretty(found.schema) if found.schema else ""),
    }
    return render(
        request,
        "console/collections/detail.html",
        context(
            request,
            "collections",
            collection=found,
            operations=OPERATIONS,
            indexes=states,
            count=services.count_documents(principal=principal(request), collection=name),
            **values,
            **extra,
        ),
        status=status,
    )


@staff_page
@require_POST
def check_rule(request: HttpRequest) -> JsonResponse:
    """Validation as the operator types: {"ok": true} or the parser's message with its position."""
    operation, text = request.POST.get("operation", ""), request.POST.get("text", "")
    if not text.strip():
        return JsonResponse({"ok": True, "empty": True})
    try:
        selectors.check_rule(operation=operation, text=text)
    except RulesError as error:
        return JsonResponse({"ok": False, "message": error.message, "line": error.line, "column": error.column})
    return JsonResponse({"ok": True})


@staff_page
@require_POST
def save_rules(request: HttpRequest, name: str) -> HttpResponse:
    rules = {operation: request.POST.get(operation, "").strip() or None for operation in OPERATIONS}
    try:
        services.update_collection(name=name, changes={"rules": rules}, actor=principal(request))
    except (ApiError, RulesError) as error:
        failed = problem(error)
        failed["operation"] = (error.details or {}).get("operation")
        shown = {operation: text or "" for operation, text in rules.items()}
        return _detail(request, name, status=400, rules=shown, rules_error=failed)
    messages.success(request, "Rules saved.")
    return HttpResponseRedirect(detail_url(name, "rules"))


@staff_page
@require_POST
def simulate(request: HttpRequest, name: str) -> HttpResponse:
    """The simulator's answer, as a fragment htmx puts under the form."""
    operation = request.POST.get("operation", "")
    who = request.POST.get("subject", "").strip()
    doc_id = request.POST.get("doc_id", "").strip() or None
    body = request.POST.get("data", "").strip()
    try:
        subject: Principal = users.user_principal(principal=principal(request), user=who) if who else ANONYMOUS
        data = parse_json(body, "document body") if body else None
        if data is not None and not isinstance(data, dict):
            raise ApiError("The document body is a JSON object.")
        answer = selectors.simulate_access(
            principal=principal(request),
            collection=name,
            operation=operation,
            subject=subject,
            doc_id=doc_id,
            data=data,
        )
    except (ApiError, RulesError) as error:
        return render(request, "console/collections/simulation.html", {"error": problem(error)}, status=400)
    subject_name = subject.email or subject.id if not subject.is_anonymous else "anonymous"
    return render(
        request,
        "console/collections/simulation.html",
        {"answer": answer, "subject": subject_name, "operation": operation},
    )


@staff_page
@require_POST
def save_schema(request: HttpRequest, name: str) -> HttpResponse:
    text = request.POST.get("schema", "")
    try:
        schema = parse_json(text, "schema") if text.strip() else None
        services.update_collection(name=name, changes={"schema": schema}, actor=principal(request))
    except ApiError as error:
        return _detail(request, name, status=400, schema_text=text, schema_error=problem(error))
    messages.success(request, "Schema saved." if text.strip() else "Schema removed.")
    return HttpResponseRedirect(detail_url(name, "schema"))


@staff_page
@require_POST
def add_index(request: HttpRequest, name: str) -> HttpResponse:
    fields = [field.strip() for field in request.POST.get("fields", "").split(",") if field.strip()]
    spec = {"fields": fields, "unique": request.POST.get("unique") == "on"}
    try:
        current = services.get_collection(name=name).indexes or []
        services.update_collection(name=name, changes={"indexes": [*current, spec]}, actor=principal(request))
    except ApiError as error:
        return _detail(
            request, name, status=400, index_error=problem(error), index_fields=request.POST.get("fields", "")
        )
    messages.success(request, f"Index on {', '.join(fields)} built.")
    return HttpResponseRedirect(detail_url(name, "indexes"))


@staff_page
@require_POST
def drop_index(request: HttpRequest, name: str) -> HttpResponse:
    try:
        position = int(request.POST.get("position", ""))
        current = list(services.get_collection(name=name).indexes or [])
        if not 0 <= position < len(current):
            raise ApiError("This index no longer exists; reload the page.")
        dropped = current.pop(position)
        services.update_collection(name=name, changes={"indexes": current}, actor=principal(request))
    except ValueError:
        messages.error(request, "Choose an index to drop.")
        return HttpResponseRedirect(detail_url(name, "indexes"))
    except ApiError as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(detail_url(name, "indexes"))
    messages.success(request, f"Index on {', '.join(dropped['fields'])} dropped.")
    return HttpResponseRedirect(detail_url(name, "indexes"))


@staff_page
@require_POST
def delete(request: HttpRequest, name: str) -> HttpResponse:
    try:
        services.delete_collection(name=name, actor=principal(request))
    except ApiError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Collection {name} deleted with its documents.")
    return HttpResponseRedirect(reverse("console:collections"))


urlpatterns = [
    path("", page, name="collections"),
    path("new", create, name="collection-create"),
    path("check-rule", check_rule, name="collection-check-rule"),
    path("<str:name>/", detail, name="collection"),
    path("<str:name>/rules", save_rules, name="collection-rules"),
    path("<str:name>/simulate", simulate, name="collection-simulate"),
    path("<str:name>/schema", save_schema, name="collection-schema"),
    path("<str:name>/indexes", add_index, name="collection-index-add"),
    path("<str:name>/indexes/drop", drop_index, name="collection-index-drop"),
    path("<str:name>/delete", delete, name="collection-delete"),
    path("<str:name>/documents/", include("console.pages.collections_data")),
]
