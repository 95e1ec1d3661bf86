"""TLS contexts for https/wss, with errors a user can act on."""

from __future__ import annotations

import os
import ssl

from .._errors import LongwireError

__all__ = ["client_ssl_context", "server_ssl_context"]


def server_ssl_context(cert: str | None, key: str | None) -> ssl.SSLContext:
    """A server context from PEM files (``key`` may be None when ``cert`` holds both).

    Raises:
        LongwireError: a file is missing or unreadable, or the key does not match.
    """
    if cert is None:
        raise LongwireError("a TLS key was given without a certificate (--tls-cert)")
    for label, path in (("certificate", cert), ("key", key)):
        if path is not None and not os.path.isfile(path):
            raise LongwireError(f"TLS {label} file not found: {path}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise LongwireError(f"cannot load TLS certificate {cert!r}: {exc}") from exc
    return context


def client_ssl_context(cafile: str | None = None) -> ssl.SSLContext:
    """A client context that verifies the server (system CAs, or ``cafile``)."""
    return ssl.create_default_context(cafile=cafile)
