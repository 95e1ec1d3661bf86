"""Splitting the absolute URLs the clients connect to (``ws``/``wss``, ``http``/``https``)."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["split_url"]


def split_url(url: str, *, plain: str, secure: str, kind: str) -> tuple[bool, str, int, str, str]:
    """``(secure, host, port, target, Host header)`` of an absolute URL.

    Args:
        url: the URL.
        plain: the scheme without TLS (``"ws"``, ``"http"``).
        secure: the scheme with TLS (``"wss"``, ``"https"``).
        kind: what the URL must be, for the error message (``"a WebSocket"``).

    Raises:
        ValueError: another scheme, no host, credentials in the URL, or a bad port.
    """
    parts = urlsplit(url)
    if parts.scheme not in (plain, secure):
        raise ValueError(f"not {kind} URL ({plain}:// or {secure}://): {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    if parts.username or parts.password:
        raise ValueError(f"credentials in the URL are not supported: {url!r}")
    is_secure = parts.scheme == secure
    try:
        port = parts.port or (443 if is_secure else 80)
    except ValueError as exc:
        raise ValueError(f"bad port in {url!r}") from exc
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname
    host_header = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        host_header += f":{port}"
    return is_secure, host, port, target, host_header
