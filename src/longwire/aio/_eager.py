"""Run a handler coroutine at once, and make it a Task only if it has to wait.

Most request handlers never wait: they build a response and return. Running
their first step inline (as Python 3.12's eager tasks do) saves creating and
scheduling a Task per request, which is a large share of a small request's cost.
A coroutine that does wait continues in a Task from exactly where it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["Finished", "start"]

T = TypeVar("T")


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
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        return Finished(stop.value)
    return loop.create_task(_continue(coro, yielded))


async def _continue(coro: Coroutine[Any, Any, T], yielded: Any) -> T:
    result: T = await _Resumed(coro, yielded)
    return result


class _Resumed:
    """Hands the Task the future ``coro`` was waiting on, then drives ``coro`` on.

    This is what ``yield from`` does, for a coroutine already started: values go
    out to the Task, and what the Task sends or throws (a cancellation) goes in.
    """

    __slots__ = ("coro", "yielded")

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self.coro = coro
        self.yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self.coro
        value = self.yielded
        self.yielded = None
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value
