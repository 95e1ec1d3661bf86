"""Fixtures for the application-layer tests.

The test directories are not packages, so shared helpers travel as fixtures:
``make_request`` builds a ``Request`` the way the server does (``body`` as
bytes or a list of chunks), and ``serve`` runs ``app.handle`` to completion.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import pytest

from longwire.app import App, Request, Response
from longwire.http1 import Headers


class Receiver:
    """A ``receive_body`` function over fixed chunks, counting its calls."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = [*chunks, b""]
        self.calls = 0

    async def __call__(self) -> bytes:
        self.calls += 1
        if not self.chunks:
            raise AssertionError("receive_body called after it returned b''")
        return self.chunks.pop(0)


def _make_request(
    method: str = "GET",
    target: str = "/",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes | list[bytes] | None = None,
    **options: object,
) -> Request:
    receive = None
    if body is not None:
        receive = Receiver([body] if isinstance(body, bytes) else body)
    return Request(method, target, Headers(headers), receive_body=receive, **options)


@pytest.fixture
def make_request() -> Callable[..., Request]:
    return _make_request


@pytest.fixture
def serve() -> Callable[..., Response]:
    """``serve(app, method="GET", target="/", ...)``: the response ``app.handle`` gives."""

    def serve(app: App, *args: object, **kwargs: object) -> Response:
        return asyncio.run(app.handle(_make_request(*args, **kwargs)))

    return serve
