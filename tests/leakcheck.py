"""Run a coroutine in a fresh event loop, bounded in time, failing on what it leaks.

Shared by the asyncio-layer, client and interop tests: a test fails when it
leaves a task running or a socket or transport unclosed (a ResourceWarning).
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Coroutine
from typing import Any


def run_without_leaks(coro: Coroutine[Any, Any, Any], *, timeout: float) -> Any:
    """``asyncio.run(coro)`` bounded by ``timeout`` seconds; fails on leaked tasks or sockets."""

    async def guarded() -> Any:
        async with asyncio.timeout(timeout):
            result = await coro
        current = asyncio.current_task()
        # Done callbacks and closing transports may need a few loop turns.
        for _ in range(50):
            left = [task for task in asyncio.all_tasks() if task is not current]
            if not left:
                break
            await asyncio.sleep(0.01)
        else:
            for task in left:
                task.cancel()
            raise AssertionError(f"tasks left running: {left}")
        return result

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        result = asyncio.run(guarded())
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, f"resources left open: {leaks}"
    return result
