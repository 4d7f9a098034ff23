"""``agent serve``'s HTTP side: the page, signalling, and the operator API (aiohttp).

Routes:
    GET  /                      the page (static files shipped in the package)
    GET  /api/config            ICE servers for the page
    POST /api/offer             {"sdp", "type"[, "user"]} -> {"sdp", "type", "id"}: one new session
                                (``user``: the name the page signed in with, for memory)
    GET  /api/sessions          {"sessions": [{"id", "persona", "started", "turns", "frames_sent",
                                 "audio_seconds_sent", ...}]}
    GET  /api/sessions/{id}     the same plus "transcript": [{"role", "text"}] and "client"
    DELETE /api/sessions/{id}   end a session (steering: needs the token or a local program)
    GET  /api/health            {"sessions", "capacity"}: for a load balancer's health check

Every /api route goes through ``agent.core.access.AccessPolicy``, the rule every listener of
the agent shares: a browser page from an origin that is not allowed is refused; the server's own
page is allowed when it reached the server through a loopback name or over HTTPS (a page that
DNS-rebinds a name onto this machine gets neither); reading needs the token except from
loopback; ending a session needs the token except from a program on this machine.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import secrets
from collections.abc import Callable
from importlib import resources
from typing import Any

from aiohttp import web

from agent.core.access import AccessDenied, AccessPolicy, is_loopback, normalise_origin
from agent.core.tasks import TaskOwner
from agent.serve.peer import PeerOptions, PeerSession

log = logging.getLogger(__name__)

KEEP_ENDED = 32  # ended sessions still readable in the operator API (newest kept)
MAX_OFFER = 64 * 1024  # bytes of an SDP offer
STATIC = {"/": ("index.html", "text/html"), "/app.js": ("app.js", "text/javascript"),
          "/style.css": ("style.css", "text/css")}


class Server:
    """The sessions of one process: one persona, one shared ``Models``, at most ``capacity``."""

    def __init__(self, persona: Any, models: Any, policy: AccessPolicy, options: PeerOptions,
                 capacity: int = 4, https: bool = False,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.persona = persona
        self.models = models
        self.policy = policy
        self.options = options
        self.capacity = capacity
        self.https = https
        self.on_change = on_change  # a session started listening or ended
        self.sessions: dict[str, PeerSession] = {}
        self.ended: collections.OrderedDict[str, PeerSession] = collections.OrderedDict()
        self.owner = TaskOwner("serve")
        self.app = self._app()

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_OFFER)
        app.router.add_get("/", self._static)
        app.router.add_get("/app.js", self._static)
        app.router.add_get("/style.css", self._static)
        app.router.add_get("/api/config", self._config)
        app.router.add_get("/api/health", self._health)
        app.router.add_post("/api/offer", self._offer)
        app.router.add_get("/api/sessions", self._list)
        app.router.add_get("/api/sessions/{id}", self._one)
        app.router.add_delete("/api/sessions/{id}", self._end)
        return app

    # ------------------------------------------------------------------ access
    def _own_origin(self, request: web.Request) -> str | None:
        """The origin of this server's own page, as the browser named the server; only names
        that cannot be rebound onto this machine by another site count (loopback, or HTTPS)."""
        host = request.host
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if self.https or is_loopback(name.strip("[]")):
            return normalise_origin(f"{'https' if self.https else 'http'}://{host}")
        return None

    def _policy(self, request: web.Request) -> AccessPolicy:
        own = self._own_origin(request)
        if own is None:
            return self.policy
        return dataclasses.replace(self.policy, allowed_origins=self.policy.allowed_origins | {own})

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        peer = request.remote
        origin = request.headers.get("Origin")
        token = _token(request)
        policy = self._policy(request)
        try:
            policy.check_connect(peer, origin, token)
            if request.method == "DELETE" and not policy.may_command(peer, origin, token):
                raise AccessDenied("ending a session needs the token", status=401)
        except AccessDenied as e:
            log.info("refused %s %s from %s: %s", request.method, request.path, peer, e)
            return web.json_response({"error": str(e)}, status=e.status)
        return await handler(request)

    # ------------------------------------------------------------------ routes
    async def _static(self, request: web.Request) -> web.Response:
        name, kind = STATIC[request.path]
        body = resources.files("agent.serve").joinpath("static", name).read_bytes()
        return web.Response(body=body, content_type=kind, headers={"Cache-Control": "no-cache"})

    async def _config(self, request: web.Request) -> web.Response:
        return web.json_response({"iceServers": [s.to_dict() for s in self.options.ice_servers],
                                  "persona": self.persona.display_name})

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"sessions": len(self.sessions), "capacity": self.capacity})

    async def _offer(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _error("send the offer as JSON: {\"sdp\": ..., \"type\": \"offer\"}", 400)
        if not isinstance(body, dict) or body.get("type") != "offer" or not isinstance(body.get("sdp"), str):
            return _error("send the offer as JSON: {\"sdp\": ..., \"type\": \"offer\"}", 400)
        if len(self.sessions) >= self.capacity:
            # a load balancer sends the next offer to another worker
            return _error(f"this server is full ({self.capacity} sessions); try again later", 503)
        session_id = secrets.token_hex(6)
        peer = PeerSession(session_id, self.persona, self.models, self.options, on_end=self._ended,
                           on_ready=lambda p: self.on_change())
        name = body.get("user")
        if self.options.user is None and isinstance(name, str) and _user_name(name):
            peer.user = _user_name(name)
        self.sessions[session_id] = peer
        try:
            answer = await peer.answer(body["sdp"])
        except Exception as e:  # a malformed or unusable offer: one line back, nothing left running
            del self.sessions[session_id]
            self.owner.spawn(peer.aclose(), f"close {session_id}")
            return _error(f"cannot answer this offer: {e}", 400)
        log.info("session %s started (%s)", session_id, request.remote)
        return web.json_response({"sdp": answer.sdp, "type": answer.type, "id": session_id})

    async def _list(self, request: web.Request) -> web.Response:
        every = list(self.sessions.values()) + list(self.ended.values())
        return web.json_response({"sessions": [p.info() for p in every]})

    def _find(self, request: web.Request) -> PeerSession:
        session_id = request.match_info["id"]
        peer = self.sessions.get(session_id) or self.ended.get(session_id)
        if peer is None:
            raise web.HTTPNotFound(text=json.dumps({"error": f"no session {session_id}"}),
                                   content_type="application/json")
        return peer

    async def _one(self, request: web.Request) -> web.Response:
        return web.json_response(self._find(request).info(detail=True))

    async def _end(self, request: web.Request) -> web.Response:
        peer = self._find(request)
        peer.stop("ended by the operator")
        return web.json_response(peer.info())

    # ------------------------------------------------------------------ lifecycle
    def _ended(self, peer: PeerSession) -> None:
        self.sessions.pop(peer.id, None)
        self.ended[peer.id] = peer
        while len(self.ended) > KEEP_ENDED:
            self.ended.popitem(last=False)
        self.owner.spawn(peer.aclose(), f"close {peer.id}")
        log.info("session %s ended: %s", peer.id, peer.end_reason)
        self.on_change()

    async def aclose(self) -> None:
        """End every session (each under its deadline), then what the server started."""
        await asyncio.gather(*(p.aclose() for p in list(self.sessions.values())), return_exceptions=True)
        await self.owner.aclose(3.0)


def _token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


def _error(text: str, status: int) -> web.Response:
    return web.json_response({"error": text}, status=status)


def _user_name(name: str) -> str:
    """A signed-in name as memory keys it: printable, at most 64 characters ('' if none is left)."""
    return "".join(c for c in name.strip() if c.isprintable())[:64]
