"""WebSocket bridge: the agent's events and face stream as JSON, for robots and web pages in any
language, and validated commands back (wire format: ``plugins.wire``, docs/websocket-schema.md).

Who may connect and who may steer the agent is ``agent.core.access`` (one rule for every
listener): a browser page whose ``Origin`` is not on ``origins`` (empty by default) is refused at
the handshake with HTTP 403; a local program (loopback, no ``Origin``) connects and commands
without a token; anyone else needs the token to connect from another machine and to send
commands (``?token=`` in the URL or an ``auth`` message). It binds 127.0.0.1; any other interface
needs a token (the settings refuse otherwise). PII fields (transcripts, affect) are redacted
unless ``pii=true``. Each client has its
own bounded outbox (events: drop-new; face: latest wins), so a slow client loses its own
frames and never slows the agent or the other clients; a message over ``max_size`` closes that
client with code 1009.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, SecretStr, model_validator

from agent.core.access import AccessDenied, AccessPolicy, same_secret
from agent.core.errors import MissingDependency, UserError
from agent.core.events import Event
from agent.core.face_state import FaceState
from agent.core.speech import SpeechChunk
from plugins import wire
from plugins.api import ALL_EVENTS, API_VERSION, Capabilities, Plugin, PluginContext, PluginSettings

log = logging.getLogger(__name__)
TOKEN_ENV = "AGENT_WS_TOKEN"  # the bridge's own; $AGENT_TOKEN (every listener's) when unset


class WebSocketSettings(PluginSettings):
    host: str = Field("127.0.0.1", description="interface to bind; anything but loopback needs a token")
    port: Annotated[int, Field(ge=0, le=65535, description="TCP port, 0 picks a free one")] = 8765
    token: SecretStr | None = Field(None, description=f"shared secret; default: ${TOKEN_ENV}, then $AGENT_TOKEN")
    origins: str = Field("", description="web page origins allowed to connect, joined with '+' "
                                         "(e.g. http://localhost:8080); none by default")
    events: str = Field(ALL_EVENTS, description="event types to forward, '*' or joined with '+'")
    face_rate: Annotated[float, Field(ge=0.0, le=120.0, description="face frames/s, 0 for none")] = 30.0
    speech: Literal["off", "timings", "audio"] = "off"
    pii: bool = Field(False, description="forward transcripts and affect unredacted")
    commands: bool = Field(True, description="accept commands (from local programs, or with the token)")
    max_size: Annotated[int, Field(ge=256, le=16 * 2**20, description="largest client message, bytes")] = 65536
    max_clients: Annotated[int, Field(ge=1, le=1000)] = 16
    outbox: Annotated[int, Field(ge=1, le=100_000, description="queued events per client")] = 256
    auth_timeout: Annotated[float, Field(gt=0.0, le=60.0)] = 5.0

    @model_validator(mode="after")
    def _token_off_localhost(self) -> WebSocketSettings:
        try:
            self.policy().check_bind(self.host)
        except AccessDenied as exc:
            raise ValueError(f"binding {self.host} (not localhost) needs a token: add token=SECRET "
                             f"or set ${TOKEN_ENV}") from exc
        return self

    def policy(self) -> AccessPolicy:
        return AccessPolicy.of(self.secret(), self.origins.replace(" ", "+").split("+"))

    def secret(self) -> str | None:
        value = self.token.get_secret_value() if self.token is not None else os.environ.get(TOKEN_ENV)
        return value or os.environ.get("AGENT_TOKEN") or None

    def event_names(self) -> frozenset[str]:
        return frozenset(n for n in self.events.replace("|", "+").replace(" ", "+").split("+") if n)


@dataclass(eq=False)
class _Client:
    """One connection's outbox: bounded events, the newest face frame, and a wake-up flag;
    ``may_command``: whether its commands are obeyed (decided at the handshake, or by ``auth``)."""

    outbox: int
    may_command: bool = False
    events: collections.deque[str] = field(default_factory=collections.deque)
    face: str | None = None
    dropped: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, text: str) -> None:
        if len(self.events) >= self.outbox:
            self.dropped += 1
            return
        self.events.append(text)
        self.wake.set()

    def push_face(self, text: str) -> None:
        self.face = text
        self.wake.set()


class WebSocketBridge(Plugin):
    """Events and the face stream as JSON over WebSocket; validated commands back."""

    name = "websocket"
    Settings = WebSocketSettings  # type: ignore[assignment]

    def __init__(self, settings: WebSocketSettings | None = None) -> None:
        super().__init__(settings)
        self.settings: WebSocketSettings
        self._server: Any = None
        self._policy = self.settings.policy()
        self._clients: dict[Any, _Client] = {}
        self.port: int | None = None  # the bound port, once started
        self.rejected = 0

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        s = self.settings
        return Capabilities(events=s.event_names(), face_rate=s.face_rate or None,
                            speech_audio=s.speech != "off", sends_commands=s.commands)

    # ------------------------------------------------------------------ lifecycle
    async def start(self, ctx: PluginContext) -> None:
        await super().start(ctx)
        try:
            from websockets.asyncio.server import serve
        except ImportError:
            raise MissingDependency("websockets", "pip install 'websockets>=13'") from None
        s = self.settings
        try:
            self._server = await serve(self._handle, s.host, s.port, max_size=s.max_size,
                                       max_queue=16, process_request=self._check_handshake,
                                       ping_interval=20, ping_timeout=20, close_timeout=2,
                                       logger=logging.getLogger("plugins.websocket.server"))
        except OSError as exc:
            raise UserError(f"websocket bridge cannot listen on {s.host}:{s.port}: {exc.strerror or exc}; "
                            "pick another port=") from None
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("websocket bridge listening on ws://%s:%d", s.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
            self._server = None

    # ------------------------------------------------------------------ agent → clients
    async def on_event(self, event: Event) -> None:
        try:
            text = wire.event(event, redact=not self.settings.pii)
        except (TypeError, ValueError) as exc:
            log.debug("event %s is not JSON-serialisable: %s", event.type, exc)
            return
        for client in self._clients.values():
            client.push(text)

    async def on_face(self, state: FaceState) -> None:
        if self._clients:
            text = wire.face(state)
            for client in self._clients.values():
                client.push_face(text)

    async def on_speech(self, chunk: SpeechChunk, start_t: float) -> None:
        if self._clients:
            text = wire.speech(chunk, start_t, audio=self.settings.speech == "audio")
            for client in self._clients.values():
                client.push(text)

    # ------------------------------------------------------------------ connections
    def _check_handshake(self, conn: Any, request: Any) -> Any:
        """Before the upgrade: refuse a browser origin not on the allow-list (403), a wrong
        ``?token=`` (401) and a full house (503), each with its reason as the body. Who gets in
        is noted on the connection: whether it must still authenticate, whether it may command."""
        from http import HTTPStatus

        if len(self._server.connections) >= self.settings.max_clients:  # authenticated or not
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too many clients\n")
        origin = request.headers.get("Origin")
        peer = _peer(conn)
        given = parse_qs(urlsplit(request.path).query).get("token", [None])[0]
        try:
            self._policy.check_origin(origin)
        except AccessDenied as exc:
            return self._refuse(conn, exc, origin, peer)
        if given is not None and not same_secret(given, self._policy.token):
            return self._refuse(conn, AccessDenied("bad token", 401), origin, peer)
        try:
            self._policy.check_connect(peer, origin, given)
            conn.authenticated = True
        except AccessDenied:
            conn.authenticated = False  # another machine without ?token=: an auth message next
        conn.may_command = self._policy.may_command(peer, origin, given)
        return None

    def _refuse(self, conn: Any, exc: AccessDenied, origin: str | None, peer: str | None) -> Any:
        self.rejected += 1
        log.warning("websocket bridge refused %s (origin %s): %s", peer, origin or "none", exc)
        return conn.respond(exc.status, f"{exc}\n")

    async def _handle(self, conn: Any) -> None:
        """One client: authenticate, say hello, then read commands while a sibling task sends."""
        if not getattr(conn, "authenticated", False) and not await self._authenticate(conn):
            return
        s = self.settings
        client = _Client(s.outbox, may_command=getattr(conn, "may_command", False))
        self._clients[conn] = client
        try:
            client.push(wire.hello(API_VERSION, sorted(s.event_names()), s.face_rate or None,
                                   s.speech, s.commands and client.may_command))
            async with asyncio.TaskGroup() as tg:
                sender = tg.create_task(self._send_loop(conn, client), name="websocket/send")
                await self._read_loop(conn, client)
                sender.cancel()
        finally:
            self._clients.pop(conn, None)

    async def _authenticate(self, conn: Any) -> bool:
        """A client from another machine that gave no ``?token=``: its first message is ``auth``."""
        from websockets.exceptions import ConnectionClosed

        try:
            async with asyncio.timeout(self.settings.auth_timeout):
                raw = await conn.recv()
        except TimeoutError:
            await conn.close(1008, "authenticate first: {\"v\":1,\"type\":\"auth\",\"token\":...}")
            return False
        except ConnectionClosed:
            return False
        try:
            msg = wire.parse_client(raw)
        except wire.BadMessage as exc:
            msg = None
            reason = str(exc)
        else:
            reason = "the first message must be auth"
        if isinstance(msg, wire.Auth) and same_secret(msg.token, self._policy.token):
            conn.may_command = True
            return True
        if isinstance(msg, wire.Auth):
            reason = "bad token"
        self.rejected += 1
        await conn.close(1008, reason[:120])
        return False

    async def _send_loop(self, conn: Any, client: _Client) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                await client.wake.wait()
                client.wake.clear()
                while client.events:
                    await conn.send(client.events.popleft())
                if client.face is not None:
                    text, client.face = client.face, None
                    await conn.send(text)
        except ConnectionClosed:
            return  # the read loop sees the close too and ends the handler

    async def _read_loop(self, conn: Any, client: _Client) -> None:
        from websockets.exceptions import ConnectionClosed

        while True:
            try:
                raw = await conn.recv()
            except ConnectionClosed:
                return
            try:
                msg = wire.parse_client(raw)
            except wire.BadMessage as exc:
                self.rejected += 1
                reply = wire.error(str(exc))
            else:
                if isinstance(msg, wire.Auth) and not same_secret(msg.token, self._policy.token):
                    self.rejected += 1
                    await conn.close(1008, "bad token")
                    return
                reply = await self._dispatch(msg, client)
            try:
                await conn.send(reply)
            except ConnectionClosed:
                return

    async def _dispatch(self, msg: Any, client: _Client) -> str:
        if isinstance(msg, wire.Ping):
            return wire.pong(msg.id)
        if isinstance(msg, wire.Auth):  # the right token (checked by the read loop)
            client.may_command = True
            return wire.ack(msg.id, "auth")
        if not self.settings.commands:
            return wire.error("commands are disabled on this bridge (commands=false)", msg.id)
        if not client.may_command:
            self.rejected += 1
            return wire.error("commands need the token: send {\"v\":1,\"type\":\"auth\",\"token\":...} "
                              "first, or connect with ?token=", msg.id)
        assert self.ctx is not None
        if not await self.ctx.send(msg.type, **wire.command_args(msg)):
            return wire.error("too many commands; slow down", msg.id)
        return wire.ack(msg.id, msg.type)

    @property
    def clients(self) -> int:
        return len(self._clients)


def _peer(conn: Any) -> str | None:
    """The client's IP address (IPv4 or IPv6 socket address tuples)."""
    address = getattr(conn, "remote_address", None)
    return str(address[0]) if address else None
