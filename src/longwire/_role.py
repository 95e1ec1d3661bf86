"""Which end of a connection a protocol core speaks for."""

from __future__ import annotations

import enum

__all__ = ["Role"]


class Role(enum.Enum):
    """``CLIENT`` opens connections and sends requests; ``SERVER`` accepts and answers."""

    CLIENT = "client"
    SERVER = "server"
