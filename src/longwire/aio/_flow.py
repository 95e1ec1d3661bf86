"""Write flow control, shared by the HTTP connection and the WebSocket.

The transport calls ``pause_writing`` when its buffer goes over the high-water
mark and ``resume_writing`` once it drains; a writer that must wait awaits
``_drained()``.
"""

from __future__ import annotations

import asyncio

__all__ = ["WriteFlowControl"]


class WriteFlowControl(asyncio.Protocol):
    """A protocol's writing side; subclasses set ``_loop`` and call ``_init_flow()``."""

    __slots__ = ("_drain", "_write_paused")

    _loop: asyncio.AbstractEventLoop

    def _init_flow(self) -> None:
        self._write_paused = False
        self._drain: asyncio.Future[None] | None = None

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._release_drain()

    def _drained(self) -> asyncio.Future[None]:
        """A future that completes when writing may go on (or the connection is lost)."""
        drain = self._drain
        if drain is None:
            drain = self._drain = self._loop.create_future()
        return drain

    def _release_drain(self) -> None:
        drain = self._drain
        if drain is not None:
            self._drain = None
            if not drain.done():
                drain.set_result(None)
