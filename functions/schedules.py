"""Schedule triggers, kept in django-celery-beat's tables in step with deployments.

Every `@on_schedule` handler of a function's active version has one `PeriodicTask` named
`functions:<function>:<handler>` (a `CrontabSchedule` with the trigger's time zone, or an
`IntervalSchedule` for `every=` seconds) sending `functions.fire_schedule`. `sync()` runs inside
the transaction that deploys, rolls back or deletes the function, so the beat tables change with
it; beat's DatabaseScheduler notices the change within a few seconds. Because beat may still send
an old entry in those seconds, `fire()` checks again that the active version declares that
schedule — a removed or rolled-back schedule never invokes.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from baas.timestamps import rfc3339
from functions import sending
from functions.models import Function, Invocation

logger = logging.getLogger("baas.functions")

TASK = "functions.fire_schedule"


def _task_prefix(name: str) -> str:
    return f"functions:{name}:"  # a function name has no ':' (services.NAME_RE)


def sync(name: str) -> None:
    """Make the beat entries of function `name` match its active version (none if it is gone).
    Call inside the transaction that changed the function."""
    function = Function.objects.select_related("active_version").filter(name=name).first()
    wanted: dict[str, dict[str, Any]] = {}
    if function is not None and function.active_version is not None:
        for trigger in function.active_version.triggers:
            if trigger.get("type") == "schedule":
                wanted[_task_prefix(name) + trigger["handler"]] = trigger
    for task in PeriodicTask.objects.filter(name__startswith=_task_prefix(name)):
        if task.name not in wanted:
            task.delete()
    for task_name, trigger in wanted.items():
        schedule: dict[str, Any] = {"crontab": None, "interval": None}
        if trigger.get("every"):
            schedule["interval"], _ = IntervalSchedule.objects.get_or_create(
                every=int(trigger["every"]), period=IntervalSchedule.SECONDS
            )
        else:
            minute, hour, day_of_month, month_of_year, day_of_week = trigger["cron"].split()
            schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_month=day_of_month,
                month_of_year=month_of_year,
                day_of_week=day_of_week,
                timezone=trigger.get("timezone") or "UTC",
            )
        kwargs = json.dumps({"function": name, "handler": trigger["handler"]})
        task = PeriodicTask.objects.filter(name=task_name).first()
        if (
            task is not None
            and task.kwargs == kwargs
            and task.task == TASK
            and task.enabled
            and all(getattr(task, field + "_id") == (value.pk if value else None) for field, value in schedule.items())
        ):
            continue  # unchanged: leave beat's schedule (and its last run) alone
        PeriodicTask.objects.update_or_create(
            name=task_name,
            defaults={"task": TASK, "kwargs": kwargs, "enabled": True, "one_off": False, **schedule},
        )


def fire(*, function: str, handler: str, message_id: str | None) -> Invocation | None:
    """Create and queue the invocation of one schedule tick (from beat's message). The message id
    makes it idempotent: a redelivered message finds its invocation already there."""
    found = Function.objects.select_related("active_version").filter(name=function).first()
    version = found.active_version if found else None
    trigger = next(
        (
            t
            for t in (version.triggers if version else [])
            if t.get("type") == "schedule" and t.get("handler") == handler
        ),
        None,
    )
    if trigger is None:
        logger.info("schedule %s.%s is gone; not firing", function, handler)
        return None
    now = timezone.now()
    event_id = f"schedule:{message_id or now.isoformat()}"
    invocation = Invocation(
        function=found,
        version=version,
        trigger="schedule",
        handler=handler,
        event_id=event_id,
        event={
            "id": event_id,
            "type": "schedule",
            "cron": trigger.get("cron"),
            "every": trigger.get("every"),
            "timezone": trigger.get("timezone") or "UTC",
            "time": rfc3339(now),
            "seq": None,
            "depth": 0,
        },
        max_attempts=version.max_retries + 1,
        event_at=now,
        enqueued_at=now,
    )
    with transaction.atomic():
        # A duplicate is ignored by the unique (function, handler, event_id); its message is a no-op.
        Invocation.objects.bulk_create([invocation], ignore_conflicts=True)
        sending.run_invocations_on_commit([invocation.pk])
    return invocation
