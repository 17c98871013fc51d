"""The `slow` marker: every test that starts processes has it, so `pytest -m "not slow"` is a fast
inner loop. Loaded for every run (`-p tests.process_level` in pyproject.toml).

Two halves:
- a test that uses a fixture which starts processes (a Celery worker, a `baas` server) is marked
  `slow` at collection, so new tests built on those fixtures get the marker without asking;
- any other test that starts a process from the test's own thread (a server, a worker, `baas dev`,
  a bubblewrap sandbox, a shell) without the marker fails, naming what it started: mark it
  (`pytestmark = pytest.mark.slow`, or `@pytest.mark.slow` on the test).

Processes started by other threads (a live server's, a warm pool refilling in the background) and
the functions sandbox probe (run once per process, by whichever test first asks) do not count. So
a test that deploys a function may take a sandbox pre-started in the background instead of
starting one: only the first such test of a worker process is caught, and the whole module
should carry the marker (tests/functions/ does).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest

# Fixtures that start processes: (module that defines it, fixture name).
PROCESS_FIXTURES = {
    ("tests.functions.conftest", "function_worker"),  # a Celery worker (and sandboxes in it)
    ("tests.realtime.conftest", "server"),  # a `baas serve` process on PostgreSQL + Redis
}
_PROCESS_EVENTS = {"subprocess.Popen", "os.posix_spawn", "os.fork", "os.forkpty"}
# Code that may start a process on behalf of whichever test happens to run first.
_SHARED_ONCE = ("functions/sandbox/probe.py",)


class _Watch:
    test: str | None = None
    started: list[str] = []


def _started_once_for_all() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.endswith(_SHARED_ONCE):
            return True
        frame = frame.f_back
    return False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event not in _PROCESS_EVENTS or _Watch.test is None:
        return
    if threading.current_thread() is not threading.main_thread() or _started_once_for_all():
        return
    _Watch.started.append(f"{event}: {args[0] if args else ''}")


sys.addaudithook(_audit)


def _uses_process_fixture(item: pytest.Item) -> bool:
    fixture_info = getattr(item, "_fixtureinfo", None)
    if fixture_info is None:
        return False
    for definitions in fixture_info.name2fixturedefs.values():
        for definition in definitions:
            if (getattr(definition.func, "__module__", None), definition.argname) in PROCESS_FIXTURES:
                return True
    return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _uses_process_fixture(item):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _Watch.test = None if item.get_closest_marker("slow") else item.nodeid
    _Watch.started = []
    try:
        yield
    finally:
        _Watch.test = None
        _Watch.started = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.when == "teardown" and _Watch.test == item.nodeid and _Watch.started and report.passed:
        started = sorted(set(_Watch.started))
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} starts processes but is not marked slow: add `pytestmark = pytest.mark.slow`"
            f" to its module or `@pytest.mark.slow` to it (tests/process_level.py). It started: {started}"
        )
