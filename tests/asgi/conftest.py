"""Fixtures of tests/asgi (namespaced ``asgi_``; the servers are run by asgi_support.py)."""

from __future__ import annotations

import pytest
from asgi_support import ASGI_SERVERS


@pytest.fixture(scope="module", params=ASGI_SERVERS)
def asgi_server_kind(request: pytest.FixtureRequest) -> str:
    """Which server a module-scoped server fixture starts: each test runs under both."""
    return str(request.param)
