"""Reads of functions that enforce the caller's rights: views (and services) never query models.

Managing functions — reading them, their versions, their invocations — is for the owner: the
service role and staff (`may_manage`). Invoking is decided by the active version's `invoke`
setting (`access_invocable`). A `access_*` selector fetches AND checks; list selectors come out
already restricted, as model instances (functions/api/representations.py renders them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Q

from baas.errors import NotAuthenticated, NotFound, PermissionDenied
from baas.models import Event
from baas.principals import Principal
from functions import plainsql
from functions.models import DispatchCursor, Function, FunctionVersion, Invocation

OWNER_KINDS = ("service", "staff")
INVOCATION_STATUSES = tuple(status for status, _ in Invocation.STATUS_CHOICES)


def may_manage(principal: Principal) -> bool:
    """Functions belong to the project: the service role and staff manage them."""
    return principal.kind in OWNER_KINDS


def may_see_internals(principal: Principal) -> bool:
    """Logs and tracebacks are for the function's owner: the service role and staff. Anyone else
    allowed to invoke (a signed-in user, an anonymous caller of a public function) gets the result,
    or the error's code and message — never what the function printed or its stack."""
    return may_manage(principal)


def check_manager(principal: Principal) -> None:
    """Refuse anyone but a manager: 401 for the anonymous principal, 403 for others."""
    if principal.is_anonymous:
        raise NotAuthenticated()
    if not may_manage(principal):
        raise PermissionDenied("Only the service role and staff manage functions.")


# --- functions and versions -----------------------------------------------------------------------
def access_function(principal: Principal, name: str) -> Function:
    """The function named `name` with its active version, for a manager; NotFound if none."""
    check_manager(principal)
    function = Function.objects.select_related("active_version__function").filter(name=name).first()
    if function is None:
        raise NotFound(f"There is no function named {name!r}.")
    return function


def list_functions(principal: Principal, *, after_name: str | None, limit: int) -> list[Function]:
    """Functions by name after `after_name`: `limit + 1` rows at most (the page's look-ahead)."""
    check_manager(principal)
    rows = Function.objects.select_related("active_version__function").order_by("name")
    if after_name is not None:
        rows = rows.filter(name__gt=after_name)
    return list(rows[: limit + 1])


def list_versions(function: Function, *, before_number: int | None, limit: int) -> list[FunctionVersion]:
    """Versions of a function got from `access_function`, newest first, without their bundles."""
    rows = function.versions.select_related("function").order_by("-number").defer("bundle")
    if before_number is not None:
        rows = rows.filter(number__lt=before_number)
    return list(rows[: limit + 1])


def backlog(function: Function) -> dict[str, Any]:
    """How many invocations of a function are not finished, and why the queued ones wait."""
    counts = {
        (row["status"], row["waiting"]): row["n"]
        for row in Invocation.objects.filter(function=function, status__in=Invocation.UNFINISHED)
        .values("status", "waiting")
        .annotate(n=Count("id"))
    }
    waiting = {reason: 0 for reason in (Invocation.WAIT_ORDER, Invocation.WAIT_CONCURRENCY, Invocation.WAIT_RATE)}
    for (status, reason), n in counts.items():
        if status != Invocation.RUNNING and reason in waiting:
            waiting[reason] += n
    by_status = {status: 0 for status in Invocation.UNFINISHED}
    for (status, _), n in counts.items():
        by_status[status] += n
    return {**by_status, "waiting": waiting}


# --- invoking -------------------------------------------------------------------------------------
def access_invocable(principal: Principal, name: str) -> Function:
    """The function to invoke, with its active version (without the bundle: a zip the invoke never
    reads), if `principal` may invoke it: the service role and staff always; others as the active
    version's `invoke` setting says (`authenticated`: signed-in users; `public`: anyone).
    NotFound / NotAuthenticated / PermissionDenied."""
    function = _function_with_active_version(name)
    if function is None or function.active_version is None:
        raise NotFound(f"There is no function named {name!r}.")
    setting = function.active_version.invoke
    if may_manage(principal) or setting == "public":
        return function
    if setting == "authenticated" and principal.kind == "user":
        return function
    if principal.is_anonymous:
        raise NotAuthenticated()
    raise PermissionDenied("This function may not be invoked by you.")


def _function_with_active_version(name: str) -> Function | None:
    """The function named `name` with its active version (None if it has none), without the
    bundle, in one plain statement: this runs on every invoke, and the ORM's select_related query
    cost three times its CPU (issue #19)."""
    function_fields = Function._meta.concrete_fields
    version_fields = [field for field in FunctionVersion._meta.concrete_fields if field.name != "bundle"]
    quote = connection.ops.quote_name
    columns = [f"f.{quote(plainsql.column(field))}" for field in function_fields]
    columns += [f"v.{quote(plainsql.column(field))}" for field in version_fields]
    sql = (
        f"SELECT {', '.join(columns)} FROM {quote(Function._meta.db_table)} f LEFT JOIN "
        f"{quote(FunctionVersion._meta.db_table)} v ON v.id = f.active_version_id WHERE f.name = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [name])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(function_fields)
    function = plainsql.instance(Function, [plainsql.column(field) for field in function_fields], row[:split])
    if row[split] is None:  # the version's id: no active version
        function.active_version = None
        return function
    version = plainsql.instance(FunctionVersion, [plainsql.column(field) for field in version_fields], row[split:])
    version.function = function
    function.active_version = version
    return function


# --- invocations ----------------------------------------------------------------------------------
def list_invocations(
    function: Function, *, status: str | None, after: tuple[datetime, Any] | None, limit: int
) -> list[Invocation]:
    """Invocations of a function got from `access_function`, newest first, after the position
    `(created_at, id)`; `status`, if given, must be one of INVOCATION_STATUSES (the view checks)."""
    rows = Invocation.objects.filter(function=function).select_related("function", "version")
    if status:
        rows = rows.filter(status=status)
    if after is not None:
        at, last_id = after
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=last_id))
    return list(rows.order_by("-created_at", "-id")[: limit + 1])


def finished_attempts(
    function_id: Any,
    *,
    after: tuple[datetime, Any] | None,
    tail: int,
    limit: int = 100,
    until: tuple[datetime, Any] | None = None,
) -> list[Invocation]:
    """The log stream's rows (functions/api/logstream.py): invocations of a function whose last
    attempt ended, in order of `(finished_at, id)`. After a position, the next `limit`; without
    one, the last `tail`; with `until`, only up to that position. A retried invocation comes
    again each time an attempt ends (its `finished_at` moves on). The caller checked the right to
    manage the function."""
    rows = Invocation.objects.filter(function_id=function_id, finished_at__isnull=False).select_related(
        "function", "version"
    )
    if after is None:
        latest = list(rows.order_by("-finished_at", "-id")[:tail])
        return latest[::-1]
    at, last_id = after
    rows = rows.filter(Q(finished_at__gt=at) | Q(finished_at=at, id__gt=last_id))
    if until is not None:
        rows = rows.filter(Q(finished_at__lt=until[0]) | Q(finished_at=until[0], id__lte=until[1]))
    return list(rows.order_by("finished_at", "id")[:limit])


def function_exists(function_id: Any) -> bool:
    """Whether the function is still there (a log stream ends when it is deleted)."""
    return Function.objects.filter(pk=function_id).exists()


def access_invocation(principal: Principal, invocation_id: Any) -> Invocation:
    """One invocation record (with its function and version), for a manager or the principal who
    invoked it; NotFound if none. Anyone else with credentials gets NotFound too (an invocation's
    existence is not theirs to learn); no credentials, NotAuthenticated."""
    if principal.is_anonymous:
        raise NotAuthenticated()
    rows = Invocation.objects.select_related("function", "version").filter(pk=invocation_id)
    if not may_manage(principal):
        rows = rows.filter(invoked_by=principal.id) if principal.id else rows.none()
    invocation = rows.first()
    if invocation is None:
        raise NotFound("There is no such invocation.")
    return invocation


def invocation_totals() -> dict[str, Any]:
    """Invocations by status (every status, zero when none) and the trigger backlog: committed
    events the dispatcher has not turned into invocations yet (for the console's overview)."""
    counts = dict(Invocation.objects.values_list("status").annotate(n=Count("id")).order_by())
    by_status = {status: counts.get(status, 0) for status, _ in Invocation.STATUS_CHOICES}
    cursor = DispatchCursor.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    return {"by_status": by_status, "trigger_backlog": Event.objects.filter(seq__gt=cursor).count()}
