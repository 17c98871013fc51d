"""Log formatting: one JSON object a line in production, readable lines in dev.

The request id of the request being served (see `RequestContextMiddleware`) is attached to every
record logged while serving it, so one id ties an answer to its log lines.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged as a field.
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "request_id",
    "asctime",
    "color_message",
}


_SECRET_IN_URL = re.compile(r"(token=)[^&\s\"']+")


class RedactSecretsFilter(logging.Filter):
    """Websocket clients pass `?token=` in the URL, which servers log; keep it out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "token=" in str(record.msg) or any("token=" in str(arg) for arg in record.args or ()):
            record.msg = _SECRET_IN_URL.sub(r"\1[redacted]", record.getMessage())
            record.args = ()
        return True


# Tasks beat sends every second (settings: FUNCTIONS_TICK_SECONDS): their routine lines — sent,
# received, succeeded — were six of every second's log lines, day and night.
ROUTINE_TASKS = ("functions.tick", "webhooks.tick")


class QuietRoutineTasksFilter(logging.Filter):
    """Celery's informational lines about the routine ticks are dropped; their warnings and errors
    (a tick that failed) and every line about any other task are kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not record.name.startswith("celery."):
            return True
        message = record.getMessage()
        return not any(task in message for task in ROUTINE_TASKS)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        line = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return line
