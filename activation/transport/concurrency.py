"""Run tasks on a bounded thread pool (``concurrent.futures``), keeping results in order.

Threads, not asyncio: the transport is synchronous (httpx.Client), the work is
I/O-bound and the GIL is released while waiting on sockets. The pool has
``max_concurrency`` threads, normally the destination's
``DestinationLimits.max_concurrency`` (Mailchimp: 10); the Transport's
connection pool enforces the same cap on the wire in any case.

Tasks are taken from the iterable lazily (at most 2 x max_concurrency queued),
so a generator of a million batches is fine. After a task raises, no new task
is started, the running ones finish (an acknowledged batch is never abandoned
half-way), and the first exception is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")


def run_concurrently(tasks: Iterable[Callable[[], T]], max_concurrency: int) -> list[T]:
    """Call every task with at most ``max_concurrency`` running at once; return their results in order."""
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}")
    results: dict[int, T] = {}
    error: BaseException | None = None
    pending: dict[Future[T], int] = {}
    queue = enumerate(tasks)
    with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="transport") as pool:
        while True:
            while error is None and len(pending) < 2 * max_concurrency:
                item = next(queue, None)
                if item is None:
                    break
                pending[pool.submit(item[1])] = item[0]
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                if future.exception() is not None:
                    error = error or future.exception()
                else:
                    results[index] = future.result()
    if error is not None:
        raise error
    return [results[index] for index in range(len(results))]
