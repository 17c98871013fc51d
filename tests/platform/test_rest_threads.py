"""The REST threads of the one-port server (baas/wsgi_bridge.py): every job's reply reaches the
event loop once, in a batch when several wait, and a reply that fails does not hold back the
others."""

from __future__ import annotations

import asyncio
import threading
import time

from baas.wsgi_bridge import RestThreads


def _slow_square(n: int) -> int:
    time.sleep(0.001 * (n % 3))
    return n * n


def test_every_reply_reaches_the_loop_once():
    async def main() -> list[tuple[int, int]]:
        loop = asyncio.get_running_loop()
        threads = RestThreads(4, "test")
        got: list[tuple[int, int]] = []
        done = asyncio.Event()

        def reply(n: int, result: int, error: BaseException | None) -> None:
            assert threading.current_thread() is threading.main_thread()  # on the loop's thread
            assert error is None
            got.append((n, result))
            if len(got) == 200:
                done.set()

        for n in range(200):
            threads.call(loop, _slow_square, (n,), lambda result, error, n=n: reply(n, result, error))
        await asyncio.wait_for(done.wait(), timeout=30)
        await asyncio.sleep(0.05)  # nothing more arrives
        return got

    got = asyncio.run(main())
    assert sorted(got) == [(n, n * n) for n in range(200)]


def test_a_failing_reply_does_not_hold_back_the_others():
    async def main() -> tuple[list[int], list[dict]]:
        loop = asyncio.get_running_loop()
        reported: list[dict] = []
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        threads = RestThreads(2, "test")
        got: list[int] = []

        def reply(n: int, result: int, error: BaseException | None) -> None:
            if n == 5:
                raise ValueError("this reply breaks")
            got.append(result)

        for n in range(20):
            threads.call(loop, _slow_square, (n,), lambda result, error, n=n: reply(n, result, error))
        for _ in range(300):
            if len(got) == 19:
                break
            await asyncio.sleep(0.01)
        return got, reported

    got, reported = asyncio.run(main())
    assert sorted(got) == sorted(n * n for n in range(20) if n != 5)
    assert [type(context.get("exception")) for context in reported] == [ValueError]


def test_an_error_in_the_job_is_the_replys():
    async def main() -> BaseException | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[BaseException | None] = loop.create_future()
        RestThreads(1, "test").call(loop, lambda: 1 / 0, (), lambda result, error: future.set_result(error))
        return await asyncio.wait_for(future, timeout=10)

    assert isinstance(asyncio.run(main()), ZeroDivisionError)
