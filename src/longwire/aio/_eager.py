"""Run a handler coroutine at once, and make it a Task only if it has to wait.

Most request handlers never wait: they build a response and return. Running
their first step at once (Python 3.12's eager tasks) saves scheduling a Task
per request, which is a large share of a small request's cost.

The first step must run *inside* its Task: ``asyncio.timeout()``, and libraries
built on ``asyncio.current_task()`` (redis-py's connection pool, anyio), refuse
to run outside one. Python 3.11 has no eager tasks, so there every handler gets
an ordinary Task (an earlier version stepped the coroutine outside any Task,
and a handler starting with ``async with asyncio.timeout(...)`` failed).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["Finished", "start"]

T = TypeVar("T")

_EAGER_TASKS = sys.version_info >= (3, 12)


class Finished:
    """The result of a coroutine that completed without waiting."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def start(
    coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop
) -> Finished | asyncio.Task[T]:
    """Run ``coro`` until it first waits.

    Returns:
        ``Finished(result)`` if it returned without waiting, else a Task that
        continues it.

    Raises:
        Whatever ``coro`` raised before it first waited.
    """
    if _EAGER_TASKS:
        task = asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]
        if task.done():
            return Finished(task.result())  # raises what the coroutine raised
        return task
    return loop.create_task(coro)
