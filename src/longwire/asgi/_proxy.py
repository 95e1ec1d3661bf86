"""Proxy headers: the client's address and scheme as a trusted reverse proxy reports them.

Two families are read, only from a peer in the trusted list:

- RFC 7239 ``Forwarded: for=192.0.2.60;proto=https, for=10.0.0.2`` (preferred
  when present);
- the de-facto ``X-Forwarded-For: client, proxy1`` and ``X-Forwarded-Proto``.

Each proxy appends the address it received the request from, so the list is
read from the right: entries added by trusted proxies are skipped, and the
first untrusted one is the client (anything left of it could be forged by the
client itself). When every entry is trusted, the leftmost is the client.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from ..http1 import Headers

__all__ = ["DEFAULT_FORWARDED_ALLOW_IPS", "TrustedProxies"]

DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1"
"""Whom proxy headers are accepted from by default: a proxy on the same host."""

_SCHEMES = frozenset({"http", "https", "ws", "wss"})
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The peers whose proxy headers are believed.

    Args:
        hosts: addresses (``10.0.0.1``), networks (``10.0.0.0/8``, ``fd00::/8``)
            or ``*`` (any peer: only behind a proxy that is the sole way in),
            as an iterable or one comma-separated string.

    Raises:
        ValueError: an entry is neither an address, a network nor ``*``.
    """

    __slots__ = ("_any", "_literals", "_networks", "trusted")

    def __init__(self, hosts: str | Iterable[str] = DEFAULT_FORWARDED_ALLOW_IPS) -> None:
        if isinstance(hosts, str):
            hosts = hosts.split(",")
        self._any = False
        self._literals: set[str] = set()
        self._networks: list[_Network] = []
        for entry in (host.strip() for host in hosts):
            if not entry:
                continue
            if entry == "*":
                self._any = True
            elif "/" in entry:
                try:
                    self._networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(f"not an IP network: {entry!r}") from None
            else:
                try:
                    self._literals.add(str(ipaddress.ip_address(entry)))
                except ValueError:
                    raise ValueError(f"not an IP address or network: {entry!r}") from None
        # Cached per address: a server sees the same few proxies over and over.
        self.trusted = functools.lru_cache(maxsize=256)(self._trusted)

    def _trusted(self, host: str) -> bool:
        """Whether ``host`` (an address as text) is a trusted proxy."""
        if self._any or host in self._literals:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def resolve(
        self, headers: Headers, client: tuple[str, int] | None, scheme: str
    ) -> tuple[tuple[str, int] | None, str]:
        """The ``(client, scheme)`` of a request whose TCP peer is ``client``.

        Unchanged unless the peer is trusted and the request carries proxy
        headers. ``scheme`` is that of the connection (``http``/``https``, or
        ``ws``/``wss`` for a WebSocket): a forwarded ``https`` becomes ``wss``
        for a WebSocket.
        """
        if client is None or not self.trusted(client[0]):
            return client, scheme
        websocket = scheme in ("ws", "wss")
        forwarded = headers.get_all("Forwarded")
        if forwarded:
            hops = [_forwarded_element(element) for element in _split_forwarded(forwarded)]
            if not hops:
                return client, scheme
            index = self._client_index([hop.get("for", "") for hop in hops])
            host, port = _node(hops[index].get("for", ""))
            proto = hops[index].get("proto")
        else:
            addresses = headers.get_list("X-Forwarded-For")
            protos = headers.get_list("X-Forwarded-Proto")
            if not addresses and not protos:
                return client, scheme
            host, port, proto = None, 0, None
            if addresses:
                index = self._client_index(addresses)
                host = addresses[index]
                if len(protos) == len(addresses):
                    proto = protos[index]  # the proto of the same hop
            if proto is None and protos:
                proto = protos[0]
        if host:
            client = (host, port)
        if proto is not None:
            proto = proto.lower()
            if proto in _SCHEMES:
                if websocket:
                    scheme = "wss" if proto in ("https", "wss") else "ws"
                else:
                    scheme = "https" if proto in ("https", "wss") else "http"
        return client, scheme

    def _client_index(self, hops: list[str]) -> int:
        """The index of the client in ``hops``: the rightmost untrusted entry."""
        for index in range(len(hops) - 1, -1, -1):
            host, _ = _node(hops[index])
            if not host or not self.trusted(host):
                return index
        return 0


def _split_forwarded(values: list[str]) -> list[str]:
    """The comma-separated elements of every ``Forwarded`` field, commas inside
    quoted strings kept (RFC 7239 §4)."""
    elements: list[str] = []
    for value in values:
        current: list[str] = []
        quoted = False
        for char in value:
            if char == '"':
                quoted = not quoted
            if char == "," and not quoted:
                elements.append("".join(current))
                current = []
            else:
                current.append(char)
        elements.append("".join(current))
    return [element for element in elements if element.strip()]


def _forwarded_element(element: str) -> dict[str, str]:
    """``for=x;proto=https`` as ``{"for": "x", "proto": "https"}`` (names lower-cased,
    quotes removed)."""
    pairs: dict[str, str] = {}
    for pair in element.split(";"):
        name, equals, value = pair.strip().partition("=")
        if not equals:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"')
        pairs.setdefault(name.strip().lower(), value)
    return pairs


def _node(node: str) -> tuple[str, int]:
    """An RFC 7239 §6 node (``192.0.2.43:47011``, ``[2001:db8::1]:4711``, ``unknown``,
    ``_hidden``) as ``(host, port)``; ``("", 0)`` when it names no address."""
    node = node.strip()
    port = 0
    if node.startswith("["):
        host, _, rest = node[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif node.count(":") == 1:  # IPv4 with a port (a bare IPv6 address has several colons)
        host, _, text = node.partition(":")
        if text.isdigit():
            port = int(text)
    else:
        host = node
    if not host or host.lower() == "unknown" or host.startswith("_"):
        return "", 0
    return host, port
