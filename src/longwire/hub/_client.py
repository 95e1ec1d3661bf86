"""Who a hub client is: its identity (from the application's authentication) and its id."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from ._tokens import InvalidToken, sign_token, verify_token

__all__ = ["HubClient", "Identity", "new_client_id"]


@dataclass(frozen=True, slots=True)
class Identity:
    """What the ``authenticate`` hook returns for an accepted client.

    Args:
        user: the user id (None: anonymous), shown in presence.
        info: JSON-serialisable data shown with the user in presence.
        channels: channel patterns this client may subscribe to, on top of the
            channel rules (None: the rules alone decide).
    """

    user: str | None = None
    info: Any = None
    channels: tuple[str, ...] | None = None


SESSION_USE = "session"
"""The ``use`` claim of a session string (a grant's is ``GRANT_USE``)."""
GRANT_USE = "grant"
"""The ``use`` claim of a grant (``Hub.subscribe``)."""


def new_client_id() -> str:
    """A client id: 16 URL-safe random characters (96 bits)."""
    return secrets.token_urlsafe(12)


class HubClient:
    """A client of the hub, as methods and permission hooks see it.

    Attributes:
        id: the client id (public: presence shows it to other subscribers).
        user: the user id from authentication (None: anonymous).
        info: the user's info from authentication.
        channels: channel patterns its credentials allow, or None.
        transport: ``"websocket"``, ``"sse"``, ``"streaming"``, ``"polling"`` or
            ``"http"`` (a POST), for the request or connection at hand.
        request: the HTTP request at hand (the WebSocket handshake's, or the
            POST's): headers, cookies.
    """

    __slots__ = ("channels", "id", "info", "request", "transport", "user")

    def __init__(
        self,
        id: str,
        identity: Identity,
        *,
        transport: str,
        request: Any = None,
    ) -> None:
        self.id = id
        self.user = identity.user
        self.info = identity.info
        self.channels = identity.channels
        self.transport = transport
        self.request = request

    def __repr__(self) -> str:
        return f"<HubClient {self.id} user={self.user!r} via {self.transport}>"

    @property
    def personal_channel(self) -> str:
        """``#`` + the client id: the channel only this client reads."""
        return "#" + self.id

    def presence_info(self) -> dict[str, Any]:
        """What presence shows of this client."""
        return {"user": self.user, "info": self.info}

    def session(self, secret: bytes, lifetime: float) -> str:
        """The signed session string that lets the client come back as itself."""
        return sign_token(
            secret,
            self.user,
            channels=self.channels,
            info=self.info,
            expires_in=lifetime,
            cid=self.id,
            use=SESSION_USE,
        )

    @classmethod
    def from_session(
        cls, secret: bytes, session: str, *, transport: str, request: Any = None
    ) -> HubClient:
        """The client a session string names.

        Raises:
            InvalidToken: forged, malformed or expired.
        """
        claims = verify_token(secret, session)
        extra = claims.extra or {}
        client_id = extra.get("cid")
        # The same secret signs grants: one must not pass for a session.
        if extra.get("use") != SESSION_USE or not isinstance(client_id, str) or not client_id:
            raise InvalidToken("not a session")
        identity = Identity(claims.user, claims.info, claims.channels)
        return cls(client_id, identity, transport=transport, request=request)
