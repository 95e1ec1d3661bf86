"""Per-channel options, chosen by channel name pattern."""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client import HubClient

__all__ = ["ChannelOptions", "ChannelRules", "Permission"]

Permission = bool | Callable[["HubClient", str], "bool | Awaitable[bool]"]
"""Whether a client may do something on a channel: a bool, or a function of the
client and the channel name (sync or async) returning one."""

MAX_CHANNEL_LENGTH = 255
"""Longer channel names are refused."""


@dataclass(frozen=True, slots=True)
class ChannelOptions:
    """What a channel keeps and who may use it.

    Args:
        subscribe: whether a client may subscribe (server code always may).
        publish: whether a client may publish (server code always may).
        history_size: publications kept for recovery and ``history`` (0: none).
        history_ttl: seconds the history is kept after the last publication.
        presence: keep who is subscribed, and tell subscribers who joins and leaves.
    """

    subscribe: Permission = True
    publish: Permission = False
    history_size: int = 0
    history_ttl: float = 300.0
    presence: bool = False

    def __post_init__(self) -> None:
        if self.history_size < 0:
            raise ValueError("history_size must be 0 or more")
        if self.history_ttl <= 0:
            raise ValueError("history_ttl must be positive")


PERSONAL = ChannelOptions(subscribe=False, publish=False, history_size=100, history_ttl=300.0)
"""The options of a client's personal channel ``#id`` (only its owner reads it)."""


class ChannelRules:
    """Channel options by name: an exact name wins, then the longest matching pattern."""

    def __init__(self) -> None:
        self._exact: dict[str, ChannelOptions] = {}
        self._patterns: list[tuple[str, ChannelOptions]] = []
        self._cache: dict[str, ChannelOptions | None] = {}

    def add(self, pattern: str, options: ChannelOptions) -> None:
        """Use ``options`` for the channels matching ``pattern`` (``fnmatch`` syntax)."""
        if not pattern or pattern.startswith("#"):
            raise ValueError(f"invalid channel pattern {pattern!r} (# names are personal channels)")
        if any(char in pattern for char in "*?["):
            self._patterns.append((pattern, options))
            self._patterns.sort(key=lambda item: -len(item[0]))
        else:
            self._exact[pattern] = options
        self._cache.clear()

    def get(self, channel: str) -> ChannelOptions | None:
        """The options of ``channel``; None when no rule matches (clients may not use it)."""
        cache = self._cache
        if channel in cache:
            return cache[channel]
        options = self._exact.get(channel)
        if options is None:
            for pattern, candidate in self._patterns:
                if fnmatch.fnmatchcase(channel, pattern):
                    options = candidate
                    break
        if len(cache) > 10_000:
            cache.clear()
        cache[channel] = options
        return options


async def allowed(permission: Permission, client: HubClient, channel: str) -> bool:
    """Evaluate a permission for ``client`` on ``channel``."""
    if permission is True or permission is False:
        return permission
    result: Any = permission(client, channel)
    if hasattr(result, "__await__"):
        result = await result
    return bool(result)
