"""The ASGI lifespan protocol: startup before listening, shutdown after the last connection.

https://asgi.readthedocs.io/en/latest/specs/lifespan.html. The app is called
once with a ``lifespan`` scope and runs as one task for the server's whole
life: it receives ``lifespan.startup``, answers ``...startup.complete`` (or
``...startup.failed``), then later receives ``lifespan.shutdown``.

Modes (``--lifespan``, as uvicorn's): ``auto`` runs it and tolerates an app
that does not support it (it raises, or returns, before answering startup);
``on`` makes that an error; ``off`` never calls the app with a lifespan scope.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from .._errors import LongwireError
from ._scope import ASGI_VERSION, ASGIApplication

__all__ = ["Lifespan", "LifespanMode"]

logger = logging.getLogger("longwire.asgi")

LifespanMode = Literal["auto", "on", "off"]

# lifespan spec 2.0 added ``state``.
_LIFESPAN_SPEC = "2.0"


class Lifespan:
    """The lifespan task of one served app.

    Args:
        app: the ASGI application.
        mode: ``auto``, ``on`` or ``off``.
        state: the dict given as the scope's ``state``; what the app stores
            there is copied (shallowly) into every connection's scope.
    """

    __slots__ = ("_answers", "_app", "_events", "_mode", "_state", "_task", "supported")

    def __init__(self, app: ASGIApplication, mode: LifespanMode, state: dict[str, Any]) -> None:
        self._app = app
        self._mode = mode
        self._state = state
        self._task: asyncio.Task[None] | None = None
        self._events: asyncio.Queue[dict[str, Any]] | None = None
        self._answers: asyncio.Queue[dict[str, Any] | None] | None = None
        self.supported = mode != "off"

    async def startup(self) -> None:
        """Start the lifespan task and wait for the app's answer to ``lifespan.startup``.

        Raises:
            LongwireError: the app answered ``lifespan.startup.failed``; or, with
                mode ``on``, it does not support the protocol.
        """
        if self._mode == "off":
            return
        self._events = asyncio.Queue()
        self._answers = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._main())
        await self._events.put({"type": "lifespan.startup"})
        answer = await self._answers.get()
        if answer is None:  # the app raised or returned: no lifespan support
            self.supported = False
            if self._mode == "on":
                raise LongwireError(
                    "the ASGI application does not support lifespan (--lifespan on)"
                )
            return
        if answer["type"] == "lifespan.startup.failed":
            await self._wait_task()
            message = answer.get("message") or "no message given"
            raise LongwireError(f"ASGI lifespan startup failed: {message}")
        if answer["type"] != "lifespan.startup.complete":
            await self._wait_task()
            raise LongwireError(f"ASGI lifespan startup: unexpected message {answer['type']!r}")

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` and wait for the app's answer (a failure is logged)."""
        if not self.supported or self._task is None or self._task.done():
            await self._wait_task()
            return
        assert self._events is not None
        assert self._answers is not None
        await self._events.put({"type": "lifespan.shutdown"})
        answer = await self._answers.get()
        if answer is not None and answer["type"] == "lifespan.shutdown.failed":
            logger.error("ASGI lifespan shutdown failed: %s", answer.get("message") or "no message")
        await self._wait_task()

    async def _wait_task(self) -> None:
        task = self._task
        if task is not None and not task.done():
            # The app returns once it answered shutdown; one that lingers is stopped.
            try:
                await asyncio.wait_for(asyncio.shield(task), 1.0)
            except TimeoutError:
                task.cancel()
                await asyncio.wait([task])

    async def _main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": ASGI_VERSION, "spec_version": _LIFESPAN_SPEC},
            "state": self._state,
        }
        answered = False

        async def receive() -> dict[str, Any]:
            assert self._events is not None
            return await self._events.get()

        async def send(message: dict[str, Any]) -> None:
            nonlocal answered
            assert self._answers is not None
            kind = message["type"]
            if kind not in (
                "lifespan.startup.complete",
                "lifespan.startup.failed",
                "lifespan.shutdown.complete",
                "lifespan.shutdown.failed",
            ):
                raise RuntimeError(f"unexpected ASGI lifespan message {kind!r}")
            answered = True
            await self._answers.put(message)

        try:
            await self._app(scope, receive, send)
        except Exception as exc:
            if answered:
                logger.error("exception in ASGI lifespan", exc_info=exc)
            elif self._mode == "auto":
                logger.debug("ASGI 'lifespan' protocol appears unsupported", exc_info=exc)
            else:
                logger.error("exception in ASGI lifespan startup", exc_info=exc)
        finally:
            # Whoever waits for an answer that will not come now learns it.
            assert self._answers is not None
            self._answers.put_nowait(None)
