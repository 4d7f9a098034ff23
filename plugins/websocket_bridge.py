"""WebSocket bridge: the agent's events and face stream as JSON, for robots and web pages in any
language, and validated commands back (wire format: ``plugins.wire``, docs/websocket-schema.md).

Safety by default: it binds 127.0.0.1; binding any other interface needs a token (the settings
refuse otherwise), which a client gives as ``?token=`` in the URL or in a first ``auth``
message. PII fields (transcripts, affect) are redacted unless ``pii=true``. Each client has its
own bounded outbox (events: drop-new; face: latest wins), so a slow client loses its own
frames and never slows the agent or the other clients; a message over ``max_size`` closes that
client with code 1009.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import ipaddress
import logging
import os
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, SecretStr, model_validator

from agent.core.errors import MissingDependency, UserError
from agent.core.events import Event
from agent.core.face_state import FaceState
from agent.core.speech import SpeechChunk
from plugins import wire
from plugins.api import ALL_EVENTS, API_VERSION, Capabilities, Plugin, PluginContext, PluginSettings

log = logging.getLogger(__name__)
TOKEN_ENV = "AGENT_WS_TOKEN"


def _same(given: str, secret: str) -> bool:
    """Constant-time comparison (bytes: compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8"))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


class WebSocketSettings(PluginSettings):
    host: str = Field("127.0.0.1", description="interface to bind; anything but loopback needs a token")
    port: Annotated[int, Field(ge=0, le=65535, description="TCP port, 0 picks a free one")] = 8765
    token: SecretStr | None = Field(None, description=f"shared secret; default: ${TOKEN_ENV}")
    events: str = Field(ALL_EVENTS, description="event types to forward, '*' or joined with '+'")
    face_rate: Annotated[float, Field(ge=0.0, le=120.0, description="face frames/s, 0 for none")] = 30.0
    speech: Literal["off", "timings", "audio"] = "off"
    pii: bool = Field(False, description="forward transcripts and affect unredacted")
    commands: bool = Field(True, description="accept commands from clients")
    max_size: Annotated[int, Field(ge=256, le=16 * 2**20, description="largest client message, bytes")] = 65536
    max_clients: Annotated[int, Field(ge=1, le=1000)] = 16
    outbox: Annotated[int, Field(ge=1, le=100_000, description="queued events per client")] = 256
    auth_timeout: Annotated[float, Field(gt=0.0, le=60.0)] = 5.0

    @model_validator(mode="after")
    def _token_off_localhost(self) -> WebSocketSettings:
        if not is_loopback(self.host) and self.secret() is None:
            raise ValueError(f"binding {self.host} (not localhost) needs a token: add token=SECRET "
                             f"or set ${TOKEN_ENV}")
        return self

    def secret(self) -> str | None:
        value = self.token.get_secret_value() if self.token is not None else os.environ.get(TOKEN_ENV)
        return value or None

    def event_names(self) -> frozenset[str]:
        return frozenset(n for n in self.events.replace("|", "+").replace(" ", "+").split("+") if n)


@dataclass(eq=False)
class _Client:
    """One connection's outbox: bounded events, the newest face frame, and a wake-up flag."""

    outbox: int
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
                                       max_queue=16, process_request=self._check_query_token,
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
    def _check_query_token(self, conn: Any, request: Any) -> Any:
        """Reject a wrong ``?token=`` before the upgrade; no token here means "auth message next"."""
        from http import HTTPStatus

        if len(self._server.connections) >= self.settings.max_clients:  # authenticated or not
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too many clients\n")
        given = parse_qs(urlsplit(request.path).query).get("token", [None])[0]
        secret = self.settings.secret()
        if given is not None and (secret is None or not _same(given, secret)):
            self.rejected += 1
            return conn.respond(HTTPStatus.UNAUTHORIZED, "bad token\n")
        conn.authenticated = given is not None or secret is None
        return None

    async def _handle(self, conn: Any) -> None:
        """One client: authenticate, say hello, then read commands while a sibling task sends."""
        if not getattr(conn, "authenticated", False) and not await self._authenticate(conn):
            return
        s = self.settings
        client = _Client(s.outbox)
        self._clients[conn] = client
        try:
            client.push(wire.hello(API_VERSION, sorted(s.event_names()), s.face_rate or None,
                                   s.speech, s.commands))
            async with asyncio.TaskGroup() as tg:
                sender = tg.create_task(self._send_loop(conn, client), name="websocket/send")
                await self._read_loop(conn)
                sender.cancel()
        finally:
            self._clients.pop(conn, None)

    async def _authenticate(self, conn: Any) -> bool:
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
        secret = self.settings.secret() or ""
        if isinstance(msg, wire.Auth) and _same(msg.token, secret):
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

    async def _read_loop(self, conn: Any) -> None:
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
                reply = await self._dispatch(msg)
            try:
                await conn.send(reply)
            except ConnectionClosed:
                return

    async def _dispatch(self, msg: Any) -> str:
        if isinstance(msg, wire.Ping):
            return wire.pong(msg.id)
        if isinstance(msg, wire.Auth):
            return wire.ack(msg.id, "auth")  # already authenticated: harmless
        if not self.settings.commands:
            return wire.error("commands are disabled on this bridge (commands=false)", msg.id)
        assert self.ctx is not None
        if not await self.ctx.send(msg.type, **wire.command_args(msg)):
            return wire.error("too many commands; slow down", msg.id)
        return wire.ack(msg.id, msg.type)

    @property
    def clients(self) -> int:
        return len(self._clients)
