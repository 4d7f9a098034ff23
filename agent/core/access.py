"""Who may talk to a listener the agent opens (the WebSocket bridge, ``agent serve``): one rule
for every socket, now and later.

Browsers let any web page open connections to localhost, and say where the page came from in
the ``Origin`` header; a program on the machine sends none. So a localhost socket is private
only if it refuses browser origins it was not told to trust:

* a connection whose ``Origin`` is not on the explicit allow-list (empty by default) is refused
  at the handshake;
* read-only access (events, the face stream, the operator API) is open to loopback clients
  without an ``Origin``, and to everyone else with the token;
* anything that steers the agent (commands: "say", "user_text", ...) needs the token, except from
  a loopback client with no ``Origin`` — a program the user runs on the same machine.

Listening on any interface but loopback needs a token at all (the settings refuse otherwise).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

TOKEN_ENV = "AGENT_TOKEN"


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address or "localhost") is this machine; a name is never trusted."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def normalise_origin(origin: str) -> str:
    """``scheme://host[:port]`` lower-cased, without a trailing slash (as browsers send it)."""
    return origin.strip().rstrip("/").lower()


def same_secret(given: str | None, secret: str | None) -> bool:
    """Constant-time comparison; no secret or no answer is never a match."""
    if not given or not secret:
        return False
    return hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8"))


def new_token() -> str:
    return secrets.token_urlsafe(24)


class AccessDenied(Exception):
    """Refused, with the reason a client (and the log) is told: one line, no secret in it."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class AccessPolicy:
    token: str | None = None
    allowed_origins: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, token: str | None = None, origins: Iterable[str] = (), env: str = TOKEN_ENV) -> AccessPolicy:
        """The policy for a listener: ``token`` (default: ``$AGENT_TOKEN``), trusted origins."""
        token = token or os.environ.get(env) or None
        return cls(token, frozenset(normalise_origin(o) for o in origins if o.strip()))

    def check_bind(self, host: str) -> None:
        """Listening beyond loopback needs a token."""
        if not is_loopback(host) and not self.token:
            raise AccessDenied(f"listening on {host} (not this machine only) needs a token: pass one "
                               f"or set ${TOKEN_ENV}")

    def check_origin(self, origin: str | None) -> None:
        """At the handshake: a browser page from an origin not on the allow-list is refused."""
        if origin is not None and normalise_origin(origin) not in self.allowed_origins:
            raise AccessDenied(f"origin {origin!r} is not allowed (add it to the allowed origins "
                               f"to let that web page connect)")

    def local_program(self, peer: str | None, origin: str | None) -> bool:
        """A program on this machine: a loopback peer that is not a browser page."""
        return origin is None and is_loopback(peer)

    def check_connect(self, peer: str | None, origin: str | None, token: str | None) -> None:
        """May this client connect at all (read events, the face, the operator API)?"""
        self.check_origin(origin)
        if is_loopback(peer) or same_secret(token, self.token):
            return
        raise AccessDenied("a token is needed to connect from another machine", status=401)

    def may_command(self, peer: str | None, origin: str | None, token: str | None) -> bool:
        """May this client steer the agent (make it say something, type as the user)?"""
        return self.local_program(peer, origin) or same_secret(token, self.token)
