"""``Hub``: channels, presence, history and RPC for many clients, on one node or several."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, TypeVar

from ..app._secrets import MIN_SECRET_SIZE
from ..jsonrpc import (
    DEFAULT_MAX_BATCH,
    INVALID_REQUEST,
    ErrorResponse,
    InvalidMessage,
    Message,
    Methods,
    Notification,
    Request,
    Response,
    RPCError,
    encode,
    notification,
    parse,
)
from ..jsonrpc._peer import _answer as answer_text
from ._broker import Broker, BrokerUnavailable, History, Position, Publication, broker_from_url
from ._client import GRANT_USE, HubClient, Identity, new_client_id
from ._fanout import Outgoing, QueueSubscriber, Subscriber, WebSocketSubscriber, publication_text
from ._options import MAX_CHANNEL_LENGTH, PERSONAL, ChannelOptions, ChannelRules, allowed
from ._tokens import InvalidToken, sign_token, verify_token

if TYPE_CHECKING:
    from ..app import App

__all__ = [
    "FORBIDDEN",
    "NOT_CONNECTED",
    "UNAVAILABLE",
    "UNKNOWN_CHANNEL",
    "Authenticate",
    "Hub",
]

logger = logging.getLogger("longwire.hub")

NOT_CONNECTED = -32001
FORBIDDEN = -32003
UNKNOWN_CHANNEL = -32004
UNAVAILABLE = -32005

Authenticate = Callable[[Any, "str | None"], "Identity | Awaitable[Identity | None] | None"]
"""``authenticate(request, token) -> Identity | None``: None (or raising) refuses the client."""

_SERVER_CHANNEL = ChannelOptions(subscribe=False, publish=False)
"""Options of a channel no rule matches, for server code (which may use any channel)."""
_UNSUBSCRIBE = "!u "  # control message: drop client <id> from the channel
_NODE_PREFIX = "!node:"
_MAX_PREVIOUS_SECRETS = 4

_T = TypeVar("_T")


# NaN and Infinity are not JSON: a publication holding one would break every client.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _position(value: Any) -> Position | None:
    """A ``since`` param: ``{"e": epoch, "o": offset}``."""
    if value is None:
        return None
    if (
        isinstance(value, dict)
        and isinstance(value.get("e"), str)
        and type(value.get("o")) is int
        and value["o"] >= 0
    ):
        return Position(value["e"], value["o"])
    raise RPCError(-32602, 'since must be {"e": epoch, "o": offset}')


def _channel_name(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_CHANNEL_LENGTH:
        raise RPCError(-32602, f"ch must be a channel name of 1 to {MAX_CHANNEL_LENGTH} characters")
    return value


def _checked_secret(secret: str | bytes) -> bytes:
    if not isinstance(secret, str | bytes):
        raise TypeError(f"secret must be a str or bytes, not {type(secret).__name__}")
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not key:
        raise ValueError("secret is empty: use secrets.token_urlsafe(32), from the environment")
    if len(key) < MIN_SECRET_SIZE:
        raise ValueError(
            f"secret must be at least {MIN_SECRET_SIZE} bytes, not {len(key)} "
            "(use secrets.token_urlsafe(32))"
        )
    return key


def _pubs(history: History) -> list[dict[str, Any]]:
    return [{"e": p.epoch, "o": p.offset, "d": json.loads(p.data)} for p in history.publications]


class Context:
    """One JSON-RPC exchange's view of its client: a WebSocket, or a POST."""

    __slots__ = ("after", "client", "request", "subscriber", "transport")

    def __init__(
        self,
        *,
        transport: str,
        request: Any,
        client: HubClient | None = None,
        subscriber: WebSocketSubscriber | None = None,
    ) -> None:
        self.transport = transport
        self.request = request
        self.client = client
        self.subscriber = subscriber
        self.after: list[Callable[[], None]] = []
        """Run once the answers are sent (a subscription's held publications)."""


class Hub:
    """Channels with history, presence and RPC, served to browsers and other clients.

    ::

        hub = Hub()                                   # or Hub(broker="redis://localhost")
        hub.channel("room:*", history_size=100, presence=True, publish=True)
        app.mount("/rt", hub)                         # the routes of docs/hub-protocol.md
        await hub.publish("room:lobby", {"text": "hello"})

    Args:
        broker: ``"memory://"`` (one process), ``"redis://host:port/db"``, or a
            ``Broker``.
        authenticate: ``authenticate(request, token) -> Identity | None`` (sync
            or async): who a connecting client is; None refuses it. ``token`` is
            the ``connect`` call's, else the ``token`` query parameter, else None.
        token_secret: without ``authenticate``: require a token signed with this
            secret (``sign_token``); without either, clients are anonymous.
        secret: the key (16 bytes or more; a str is UTF-8 encoded) that signs
            client sessions and the hub's grants. With several nodes give each
            the same one, from the environment: it never leaves the node, and
            sessions outlive a loss of Redis's data. None: a random secret the
            broker keeps and shares (Redis: the key ``lw:secret``), which each
            node writes back after Redis lost it (see docs/deployment.md).
        heartbeat: seconds between heartbeats on idle SSE and streaming responses
            (and between the client's pings).
        poll_timeout: seconds a long poll is held when there is nothing to send.
        presence_ttl: seconds a presence entry lasts without being refreshed.
        session_ttl: seconds a client's session string stays valid.
        slow_limit: bytes a WebSocket subscriber may have unsent before it is
            closed with 1013.
        max_queue: messages an SSE, streaming or polling response may have
            unsent before it is ended (the client resumes from its positions).
        max_subscriptions: channels one client may be subscribed to.
        origins: ``Origin`` values accepted (as ``App.websocket`` takes them).
    """

    def __init__(
        self,
        broker: str | Broker = "memory://",
        *,
        authenticate: Authenticate | None = None,
        token_secret: str | bytes | None = None,
        secret: str | bytes | None = None,
        heartbeat: float = 15.0,
        poll_timeout: float = 25.0,
        presence_ttl: float = 30.0,
        session_ttl: float = 86400.0,
        slow_limit: int = 1 << 20,
        max_queue: int = 1000,
        max_subscriptions: int = 256,
        origins: Any = None,
    ) -> None:
        for name, value in (
            ("heartbeat", heartbeat),
            ("poll_timeout", poll_timeout),
            ("presence_ttl", presence_ttl),
            ("session_ttl", session_ttl),
            ("slow_limit", slow_limit),
            ("max_queue", max_queue),
            ("max_subscriptions", max_subscriptions),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be positive")
        self.broker = broker_from_url(broker) if isinstance(broker, str) else broker
        self.rules = ChannelRules()
        self.methods = Methods(context=True)
        self.heartbeat = heartbeat
        self.poll_timeout = poll_timeout
        self.presence_ttl = presence_ttl
        self.session_ttl = session_ttl
        self.slow_limit = slow_limit
        self.max_queue = max_queue
        self.max_subscriptions = max_subscriptions
        self.origins = origins
        self.node = secrets.token_hex(6)
        """This node's id (server-to-client calls come back to it)."""
        self._authenticate = authenticate
        self._token_secret = token_secret
        self._secret_given = secret is not None
        self._secret = b"" if secret is None else _checked_secret(secret)
        # Secrets this node signed with before adopting the broker's, and until
        # when (time.monotonic()) what they signed may still be valid.
        self._previous_secrets: list[tuple[bytes, float]] = []
        self._local: dict[str, dict[Subscriber, None]] = {}
        self._broker_channels: set[str] = set()
        self._subscribing: dict[str, asyncio.Future[None]] = {}  # broker subscribe under way
        self._started = False
        self._starting: asyncio.Future[None] | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._calls: dict[str, asyncio.Future[Any]] = {}
        self._call_ids = itertools.count(1)
        self._builtins = Methods(context=True)
        for name, function in (
            ("connect", self._rpc_connect),
            ("subscribe", self._rpc_subscribe),
            ("unsubscribe", self._rpc_unsubscribe),
            ("publish", self._rpc_publish),
            ("presence", self._rpc_presence),
            ("history", self._rpc_history),
            ("ping", self._rpc_ping),
        ):
            self._builtins.add(name, function)

    # Configuration.

    def channel(self, pattern: str, options: ChannelOptions | None = None, **kwargs: Any) -> None:
        """Set the options of the channels matching ``pattern``.

        ``hub.channel("room:*", history_size=100, presence=True, publish=True)``,
        or ``hub.channel("news", ChannelOptions(...))``. An exact name wins over
        patterns, and a longer pattern over a shorter one. Clients can use only
        the channels some rule matches.
        """
        if options is None:
            options = ChannelOptions(**kwargs)
        elif kwargs:
            raise TypeError("give either ChannelOptions or keyword options, not both")
        self.rules.add(pattern, options)

    def method(self, name: str | None = None) -> Callable[[Any], Any]:
        """Decorator: let clients call ``handler(client, *params)`` as ``name``.

        The handler (sync or async) gets the ``HubClient`` first. Raise
        ``RPCError`` to answer with an error object.
        """

        def register(handler: Any) -> Any:
            method_name = name or handler.__name__
            if method_name in self._builtins:
                raise ValueError(f"{method_name!r} is a built-in method of the hub")
            self.methods.add(method_name, handler)
            return handler

        return register

    def longwire_mount(self, app: App, prefix: str) -> None:
        """Register the hub's routes under ``prefix`` (``App.mount`` calls this)."""
        from ._routes import register_routes  # noqa: PLC0415

        register_routes(self, app, prefix.rstrip("/"))
        app.on_startup(self.start)
        app.on_shutdown(self.close)

    def options(self, channel: str) -> ChannelOptions | None:
        """The options of ``channel`` (None: no rule matches; personal channels have their own)."""
        if channel.startswith("#"):
            return PERSONAL
        return self.rules.get(channel)

    # Life cycle.

    async def start(self) -> None:
        """Connect to the broker and start the presence upkeep (``App`` startup does it)."""
        if self._started:
            return
        if self._starting is not None:
            await asyncio.shield(self._starting)
            return
        self._starting = asyncio.get_running_loop().create_future()
        try:
            await self.broker.start(self._on_publication, self._on_control)
            if not self._secret_given:
                self._secret = await self.broker.shared_secret()
            await self.broker.subscribe(_NODE_PREFIX + self.node)
            self._maintenance = asyncio.get_running_loop().create_task(self._upkeep())
            self._started = True
            self._starting.set_result(None)
        except BaseException as exc:
            self._starting.set_exception(exc)
            self._starting.exception()  # retrieved: no "never retrieved" warning
            self._starting = None
            raise

    async def close(self) -> None:
        """End every local subscription and disconnect from the broker."""
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
            self._maintenance = None
        subscribers = {s for subs in self._local.values() for s in subs}
        for subscriber in subscribers:
            subscriber.end(1001, "server shutting down")
        for future in self._calls.values():
            if not future.done():
                future.set_exception(ConnectionError("hub closed"))
        self._calls.clear()
        self._local.clear()
        self._broker_channels.clear()
        await self.broker.close()
        self._started = False
        self._starting = None

    # What server code calls.

    async def publish(self, channel: str, data: Any) -> Publication:
        """Publish ``data`` (JSON-serialisable) to ``channel``; its subscribers get it.

        Returns:
            The publication, with its epoch and offset.

        Raises:
            BrokerUnavailable: the broker could not be reached; nothing was published.
            TypeError, ValueError: ``data`` is not JSON (NaN and infinities
                included); nothing was published.
        """
        await self.start()
        return await self._publish(channel, _dumps(data))

    async def _publish(self, channel: str, text: str) -> Publication:
        options = self.options(channel) or _SERVER_CHANNEL
        return await self.broker.publish(
            channel, text, history_size=options.history_size, history_ttl=options.history_ttl
        )

    async def history(
        self, channel: str, *, since: Position | None = None, limit: int | None = None
    ) -> History:
        """The channel's position and kept publications (after ``since`` if given)."""
        await self.start()
        return await self.broker.history(channel, since=since, limit=limit)

    async def presence(self, channel: str) -> dict[str, dict[str, Any]]:
        """The clients subscribed to ``channel``: ``{client id: {"user": …, "info": …}}``."""
        await self.start()
        members = await self.broker.presence(channel)
        return {client: json.loads(info) for client, info in members.items()}

    async def send(self, client_id: str, data: Any) -> None:
        """Send ``data`` to one client (its ``onmessage``), on whichever node it is."""
        await self.start()
        await self._publish("#" + client_id, notification("message", {"data": data}))

    async def subscribe(self, client_id: str, channel: str) -> None:
        """Subscribe a client to ``channel``, whatever the channel's rules say."""
        await self.start()
        # A grant lasts as long as a session: the client presents it again on
        # every reconnect, and over HTTP on every downstream request.
        grant = sign_token(
            self._secret,
            None,
            expires_in=self.session_ttl,
            cid=client_id,
            gch=channel,
            use=GRANT_USE,
        )
        await self._publish(
            "#" + client_id, notification("subscribe", {"ch": channel, "grant": grant})
        )

    async def unsubscribe(self, client_id: str, channel: str) -> None:
        """End a client's subscription to ``channel`` (on every node)."""
        await self.start()
        await self.broker.publish_control(channel, _UNSUBSCRIBE + client_id)
        await self._publish("#" + client_id, notification("unsubscribe", {"ch": channel}))

    async def call(
        self, client_id: str, method: str, params: Any = None, *, timeout: float = 30.0
    ) -> Any:
        """Call ``method`` on a client (its ``methods``); its result.

        Raises:
            RPCError: the client answered with an error.
            TimeoutError: no answer within ``timeout`` (the client is gone, say).
        """
        await self.start()
        call_id = f"{self.node}.{next(self._call_ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        try:
            message = Request(method, params, call_id)
            await self._publish("#" + client_id, encode(message))
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._calls.pop(call_id, None)

    # Broker deliveries.

    def _on_publication(self, publication: Publication) -> None:
        subscribers = self._local.get(publication.channel)
        if not subscribers:
            return
        message = Outgoing(publication_text(publication), publication)
        for subscriber in list(subscribers):
            subscriber.deliver(publication.channel, message)

    def _on_control(self, channel: str, text: str) -> None:
        if channel.startswith(_NODE_PREFIX):
            self._answer_arrived(text)
            return
        subscribers = self._local.get(channel)
        if not subscribers:
            return
        if text.startswith(_UNSUBSCRIBE):
            client_id = text[len(_UNSUBSCRIBE) :]
            for subscriber in list(subscribers):
                if subscriber.client.id == client_id:
                    self._detach(subscriber, channel)
            return
        message = Outgoing(text)
        for subscriber in list(subscribers):
            subscriber.deliver(channel, message)

    def _answer_arrived(self, text: str) -> None:
        message = parse(text)
        if isinstance(message, Response | ErrorResponse):
            future = self._calls.get(str(message.id))
            if future is not None and not future.done():
                if isinstance(message, ErrorResponse):
                    future.set_exception(message.error)
                else:
                    future.set_result(message.result)

    # Local subscribers.

    async def attach(self, subscriber: Subscriber, channel: str) -> None:
        """Deliver ``channel`` to ``subscriber`` (call ``hold`` first to recover)."""
        subscribers = self._local.get(channel)
        if subscribers is None:
            subscribers = self._local[channel] = {}
        subscribers[subscriber] = None
        subscriber.channels.add(channel)
        try:
            # Until the broker confirms the subscription, publications may be
            # missed: every subscriber waits for it (the caller reads the history
            # only afterwards), and if it fails the next one tries again.
            while channel not in self._broker_channels:
                subscribing = self._subscribing.get(channel)
                if subscribing is not None:
                    await asyncio.wait([subscribing])
                    continue
                subscribing = asyncio.get_running_loop().create_future()
                self._subscribing[channel] = subscribing
                try:
                    await self.broker.subscribe(channel)
                    self._broker_channels.add(channel)
                finally:
                    del self._subscribing[channel]
                    subscribing.set_result(None)
        except BaseException:
            self._detach(subscriber, channel)
            raise

    def _detach(self, subscriber: Subscriber, channel: str) -> None:
        subscriber.channels.discard(channel)
        subscriber.held.pop(channel, None)
        subscribers = self._local.get(channel)
        if subscribers is not None:
            subscribers.pop(subscriber, None)
            if not subscribers:
                del self._local[channel]  # the broker subscription goes in the upkeep

    async def detach_all(self, subscriber: Subscriber, *, leave: bool) -> None:
        """Stop delivering to ``subscriber``; with ``leave``, end its presence too."""
        channels = list(subscriber.channels)
        for channel in channels:
            self._detach(subscriber, channel)
        if leave:
            for channel in channels:
                options = self.options(channel)
                if options is not None and options.presence:
                    with contextlib.suppress(BrokerUnavailable):
                        await self._leave(channel, subscriber.client)

    async def recover(
        self, subscriber: Subscriber, channel: str, since: Position | None
    ) -> History:
        """Subscribe ``subscriber`` to ``channel`` with what it missed since ``since``.

        Live publications are held until the caller has sent the history and
        calls ``subscriber.release(channel, history.position.offset)``.
        """
        subscriber.hold(channel)
        try:
            await self.attach(subscriber, channel)
            return await self.broker.history(channel, since=since, limit=None)
        except BaseException:
            self._detach(subscriber, channel)
            raise

    async def join(self, channel: str, client: HubClient) -> None:
        """Record ``client`` in ``channel``'s presence; tell the subscribers if it is new."""
        info = client.presence_info()
        joined = await self.broker.presence_add(channel, client.id, _dumps(info), self.presence_ttl)
        if joined:
            params = {"ch": channel, "client": client.id, **info}
            await self.broker.publish_control(channel, notification("join", params))

    async def refresh_presence(self, channel: str, client: HubClient) -> None:
        """Keep ``client``'s presence in ``channel`` alive, if it is there.

        HTTP downstream requests refresh and never join: one that set out before
        the client's ``unsubscribe`` may arrive after it, and must not bring the
        client back. ``subscribe`` joins.
        """
        await self.broker.presence_refresh(channel, client.id, self.presence_ttl)

    async def _leave(self, channel: str, client: HubClient) -> None:
        info = await self.broker.presence_remove(channel, client.id)
        if info is not None:
            params = {"ch": channel, "client": client.id, **json.loads(info)}
            await self.broker.publish_control(channel, notification("leave", params))

    async def _upkeep(self) -> None:
        """Refresh the presence of local clients, announce expired entries,
        and drop broker subscriptions no local subscriber needs any more."""
        interval = min(self.presence_ttl / 3, 5.0)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._upkeep_once()
            except BrokerUnavailable:
                continue
            except Exception:
                logger.exception("hub upkeep failed")

    async def _upkeep_once(self) -> None:
        await self._keep_secret()
        for channel, subscribers in list(self._local.items()):
            options = self.options(channel)
            if options is None or not options.presence:
                continue
            for subscriber in list(subscribers):
                if isinstance(subscriber, WebSocketSubscriber):
                    # The connection is the subscription: an entry lost (Redis
                    # lost its data, say) comes back.
                    await self.join(channel, subscriber.client)
                elif isinstance(subscriber, QueueSubscriber) and subscriber.ended is None:
                    await self.refresh_presence(channel, subscriber.client)
        for channel, client_id, info in await self.broker.presence_expired():
            params = {"ch": channel, "client": client_id, **json.loads(info)}
            await self.broker.publish_control(channel, notification("leave", params))
        for channel in list(self._broker_channels):
            if channel not in self._local and not channel.startswith(_NODE_PREFIX):
                self._broker_channels.discard(channel)
                await self.broker.unsubscribe(channel)

    # Authentication and permissions.

    async def identify(self, request: Any, token: str | None) -> Identity:
        """Who a connecting client is.

        Raises:
            RPCError: FORBIDDEN, when refused.
        """
        if token is None and request is not None:
            token = request.query.get("token")
        if self._authenticate is not None:
            try:
                result: Any = self._authenticate(request, token)
                if hasattr(result, "__await__"):
                    result = await result
            except Exception as exc:
                logger.info("client refused by authenticate: %s", exc)
                result = None
            if result is None:
                raise RPCError(FORBIDDEN, "authentication failed")
            if not isinstance(result, Identity):
                raise TypeError(f"authenticate must return an Identity or None, not {result!r}")
            return result
        if self._token_secret is not None:
            if not token:
                raise RPCError(FORBIDDEN, "a token is required")
            try:
                claims = verify_token(self._token_secret, token)
            except InvalidToken as exc:
                raise RPCError(FORBIDDEN, str(exc)) from None
            return Identity(claims.user, claims.info, claims.channels)
        return Identity()

    async def _keep_secret(self) -> None:
        """Offer the broker the secret this node signs with (at each upkeep; the Redis
        broker also does after each reconnection): it writes it back if it lost it.

        If it holds another one (Redis lost its data and a node started meanwhile
        made a new one), this node signs with that one from now on, so that every
        node accepts what it signs, and still accepts what it signed before until
        that expires (``session_ttl``). Nodes that never had
        the old secret refuse those sessions: the clients connect again as new
        clients. ``Hub(secret=...)`` avoids all this.
        """
        if self._secret_given:
            return
        held = await self.broker.offer_secret(self._secret)
        if held == self._secret:
            return
        logger.warning(
            "the broker holds another hub secret than this node's (it lost its data and "
            "another node made a new one): signing with it from now on; give every node "
            "the same Hub(secret=...) to avoid this"
        )
        until = time.monotonic() + self.session_ttl
        kept = [(key, end) for key, end in self._previous_secrets if key != held]
        kept.append((self._secret, until))
        self._previous_secrets = kept[-_MAX_PREVIOUS_SECRETS:]
        self._secret = held

    def _verified(self, check: Callable[[bytes], _T]) -> _T:
        """``check(secret)`` with the secret this node signs with, else with one it
        signed with before (``_keep_secret``); the first's ``InvalidToken`` if none."""
        try:
            return check(self._secret)
        except InvalidToken:
            if not self._previous_secrets:
                raise
            now = time.monotonic()
            self._previous_secrets = [(k, end) for k, end in self._previous_secrets if end > now]
            for key, _ in self._previous_secrets:
                with contextlib.suppress(InvalidToken):
                    return check(key)
            raise

    def client_from_session(self, session: str, *, transport: str, request: Any) -> HubClient:
        """The client a session string names.

        Raises:
            InvalidToken: forged, malformed or expired.
        """
        return self._verified(
            lambda key: HubClient.from_session(key, session, transport=transport, request=request)
        )

    def session_of(self, client: HubClient) -> str:
        """A fresh session string for ``client``."""
        return client.session(self._secret, self.session_ttl)

    async def may_subscribe(
        self, client: HubClient, channel: str, grant: str | None = None, *, granted: bool = False
    ) -> ChannelOptions:
        """The channel's options if ``client`` may subscribe to it.

        ``grant`` (from ``subscribe``) admits a channel the rules refuse;
        ``granted``: a grant for this client and channel was checked already.

        Raises:
            RPCError: UNKNOWN_CHANNEL or FORBIDDEN.
        """
        if channel.startswith("#"):
            if channel[1:] != client.id:
                raise RPCError(FORBIDDEN, "a personal channel is its owner's alone")
            return PERSONAL
        options = self.rules.get(channel)
        if granted or (grant is not None and self.granted_channel(grant, client) == channel):
            return options or _SERVER_CHANNEL
        if options is None:
            raise RPCError(UNKNOWN_CHANNEL, f"unknown channel {channel!r}")
        if client.channels is not None and not any(
            fnmatchcase(channel, pattern) for pattern in client.channels
        ):
            raise RPCError(FORBIDDEN, f"not allowed to subscribe to {channel!r}")
        if not await allowed(options.subscribe, client, channel):
            raise RPCError(FORBIDDEN, f"not allowed to subscribe to {channel!r}")
        return options

    def granted_channel(self, grant: str, client: HubClient) -> str | None:
        """The channel ``grant`` (from ``subscribe``) lets ``client`` read; None if
        it is forged, expired or another client's."""
        try:
            claims = self._verified(lambda key: verify_token(key, grant))
        except InvalidToken:
            return None
        extra = claims.extra or {}
        channel = extra.get("gch")
        if (
            extra.get("use") != GRANT_USE
            or extra.get("cid") != client.id
            or not isinstance(channel, str)
        ):
            return None
        return channel

    # JSON-RPC.

    async def handle_text(self, text: str | bytes, context: Context) -> str | None:
        """Answer the JSON-RPC message or batch ``text``; the answer to send, if any."""
        return await self.handle_parsed(parse(text), context)

    async def handle_parsed(self, parsed: list[Message] | Message, context: Context) -> str | None:
        """``handle_text`` of what ``parse`` made of the text.

        As ``Peer`` does: a batch of more than ``DEFAULT_MAX_BATCH`` messages is
        answered with one ``INVALID_REQUEST`` error and not run; a result JSON
        cannot encode is answered ``INTERNAL_ERROR`` (and logged).
        """
        if isinstance(parsed, list) and len(parsed) > DEFAULT_MAX_BATCH:
            limit = f"a batch of {len(parsed)} is over the limit of {DEFAULT_MAX_BATCH}"
            return answer_text(ErrorResponse(None, RPCError(INVALID_REQUEST, data=limit)))
        messages = parsed if isinstance(parsed, list) else [parsed]
        answers: list[Response | ErrorResponse] = []
        for message in messages:
            if isinstance(message, Request | Notification):
                answer = await self._respond(message, context)
                if answer is not None:
                    answers.append(answer)
            elif isinstance(message, InvalidMessage):
                answers.append(message)  # what broke the specification: say so
            elif isinstance(message.id, str):
                await self._answer_from_client(message)  # to one of our calls
        if not answers:
            return None
        if isinstance(parsed, list):
            return answer_text(answers)
        return answer_text(answers[0])

    async def _respond(
        self, message: Request | Notification, context: Context
    ) -> Response | ErrorResponse | None:
        if message.method in self._builtins:
            return await self._builtins.respond(message, context)
        if context.client is None:
            if isinstance(message, Notification):
                return None
            return ErrorResponse(message.id, RPCError(NOT_CONNECTED, "call connect first"))
        return await self.methods.respond(message, context.client)

    async def _answer_from_client(self, message: Response | ErrorResponse) -> None:
        call_id = str(message.id)
        node = call_id.partition(".")[0]
        if node == self.node:
            self._answer_arrived(encode(message))
        else:
            with contextlib.suppress(BrokerUnavailable):
                await self.broker.publish_control(_NODE_PREFIX + node, encode(message))

    # Built-in methods.

    def _client(self, context: Context) -> HubClient:
        if context.client is None:
            raise RPCError(NOT_CONNECTED, "call connect first")
        return context.client

    async def _rpc_connect(
        self, context: Context, token: str | None = None, session: str | None = None
    ) -> dict[str, Any]:
        if token is not None and not isinstance(token, str):
            raise RPCError(-32602, "token must be a string")
        if context.subscriber is not None:
            # The connection's subscriptions and personal channel are the first
            # client's: another identity needs another connection.
            raise RPCError(INVALID_REQUEST, "already connected: connect once per WebSocket")
        client: HubClient | None = None
        if isinstance(session, str):
            with contextlib.suppress(InvalidToken):
                client = self.client_from_session(
                    session, transport=context.transport, request=context.request
                )
        if client is None or token is not None:
            identity = await self.identify(context.request, token)
            client_id = client.id if client is not None else new_client_id()
            client = HubClient(
                client_id, identity, transport=context.transport, request=context.request
            )
        context.client = client
        if context.subscriber is not None:
            context.subscriber.client = client
        personal = client.personal_channel
        history = await self.broker.history(personal, since=None, limit=0)
        return {
            "client": client.id,
            "session": self.session_of(client),
            "user": client.user,
            "info": client.info,
            "personal": {"ch": personal, "e": history.position.epoch, "o": history.position.offset},
            "hb": int(self.heartbeat * 1000),
            "poll": int(self.poll_timeout * 1000),
        }

    async def _rpc_subscribe(
        self, context: Context, ch: Any, since: Any = None, grant: Any = None
    ) -> dict[str, Any]:
        client = self._client(context)
        channel = _channel_name(ch)
        position = _position(since)
        options = await self.may_subscribe(
            client, channel, grant if isinstance(grant, str) else None
        )
        subscriber = context.subscriber
        try:
            if subscriber is None:
                # Over HTTP: check, recover, and let the next downstream request carry it.
                history = await self.broker.history(channel, since=position, limit=None)
            else:
                if (
                    channel not in subscriber.channels
                    and len(subscriber.channels) >= self.max_subscriptions
                ):
                    raise RPCError(FORBIDDEN, "too many subscriptions")
                history = await self.recover(subscriber, channel, position)
                offset = history.position.offset
                context.after.append(lambda: subscriber.release(channel, offset))
            if options.presence:
                await self.join(channel, client)
        except BrokerUnavailable:
            raise RPCError(UNAVAILABLE, "broker unavailable") from None
        recovered = position is None or history.complete
        return {
            "e": history.position.epoch,
            "o": history.position.offset,
            "recovered": recovered,
            "pubs": _pubs(history) if position is not None and recovered else [],
            "presence": options.presence,
        }

    async def _rpc_unsubscribe(self, context: Context, ch: Any) -> dict[str, Any]:
        client = self._client(context)
        channel = _channel_name(ch)
        if context.subscriber is not None:
            self._detach(context.subscriber, channel)
        options = self.options(channel)
        if options is not None and options.presence:
            with contextlib.suppress(BrokerUnavailable):
                await self._leave(channel, client)
        return {}

    async def _rpc_publish(self, context: Context, ch: Any, data: Any = None) -> dict[str, Any]:
        client = self._client(context)
        channel = _channel_name(ch)
        options = self.options(channel)
        if options is None:
            raise RPCError(UNKNOWN_CHANNEL, f"unknown channel {channel!r}")
        if not await allowed(options.publish, client, channel):
            raise RPCError(FORBIDDEN, f"not allowed to publish to {channel!r}")
        try:
            publication = await self._publish(channel, _dumps(data))
        except BrokerUnavailable:
            raise RPCError(UNAVAILABLE, "broker unavailable: not published") from None
        return {"e": publication.epoch, "o": publication.offset}

    async def _rpc_presence(self, context: Context, ch: Any) -> dict[str, Any]:
        client = self._client(context)
        channel = _channel_name(ch)
        options = await self.may_subscribe(client, channel)
        if not options.presence:
            raise RPCError(FORBIDDEN, f"channel {channel!r} has no presence")
        try:
            return {"clients": await self.presence(channel)}
        except BrokerUnavailable:
            raise RPCError(UNAVAILABLE, "broker unavailable") from None

    async def _rpc_history(
        self, context: Context, ch: Any, since: Any = None, limit: Any = None
    ) -> dict[str, Any]:
        client = self._client(context)
        channel = _channel_name(ch)
        await self.may_subscribe(client, channel)
        if limit is not None and (type(limit) is not int or limit < 0):
            raise RPCError(-32602, "limit must be a non-negative integer")
        try:
            history = await self.broker.history(channel, since=_position(since), limit=limit)
        except BrokerUnavailable:
            raise RPCError(UNAVAILABLE, "broker unavailable") from None
        return {
            "e": history.position.epoch,
            "o": history.position.offset,
            "complete": history.complete,
            "pubs": _pubs(history),
        }

    async def _rpc_ping(self, context: Context) -> str:
        return "pong"


def parse_positions(values: Iterable[str]) -> list[tuple[str, Position]]:
    """The ``ch=OFFSET.EPOCH.NAME`` query parameters of a downstream request.

    Raises:
        ValueError: a malformed one.
    """
    positions: list[tuple[str, Position]] = []
    for value in values:
        offset, dot, rest = value.partition(".")
        epoch, dot2, channel = rest.partition(".")
        if (
            not dot
            or not dot2
            or not offset.isdigit()
            or len(offset) > 15
            or not channel
            or len(channel) > MAX_CHANNEL_LENGTH
        ):
            raise ValueError(f"malformed channel position {value[:80]!r}")
        positions.append((channel, Position(epoch, int(offset))))
    return positions
