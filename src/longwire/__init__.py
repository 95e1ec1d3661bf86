"""longwire: real-time web communication for Python.

The sans-I/O protocol cores live in :mod:`longwire.http1` (HTTP/1.1, RFC 9112)
and :mod:`longwire.websocket` (RFC 6455 with RFC 7692 permessage-deflate).
"""

from ._errors import (
    ConnectionClosed,
    HandshakeError,
    LocalProtocolError,
    LongwireError,
    ProtocolError,
    RemoteProtocolError,
)
from ._role import Role
from ._version import __version__

__all__ = [
    "ConnectionClosed",
    "HandshakeError",
    "LocalProtocolError",
    "LongwireError",
    "ProtocolError",
    "RemoteProtocolError",
    "Role",
    "__version__",
]
