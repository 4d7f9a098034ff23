"""Where the media flows: ICE candidates for a server on loopback, and ICE servers from flags.

A server bound to loopback serves browsers on this machine, so its media stays on loopback too.
aioice never offers 127.0.0.1 as a candidate (it gathers every other interface), so
``loopback_only`` narrows the addresses it gathers to 127.0.0.1 for the process, and
``keep_loopback`` drops a peer's candidates that are not on loopback from its offer: no
connectivity check leaves the machine, and none depends on the machine's other addresses.
Chromium offers loopback candidates with ``--allow-loopback-in-peer-connection``.
Beyond loopback, aioice's own gathering is used, with STUN/TURN servers (``--ice-server``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agent.core.errors import UserError

_original: Any = None


def loopback_only(enabled: bool = True) -> None:
    """Gather ICE host candidates on 127.0.0.1 only (``enabled``), or on aioice's default set."""
    global _original
    import aioice.ice

    if _original is None:
        _original = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = (lambda use_ipv4, use_ipv6: ["127.0.0.1"]) if enabled else _original


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # an mDNS name (xxxx.local) or a host name


def keep_loopback(sdp: str) -> str:
    """``sdp`` without the candidates that are not on loopback."""
    lines = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            if len(parts) > 4 and not _is_loopback(parts[4]):
                continue
        lines.append(line)
    return "\r\n".join(lines) + "\r\n"


@dataclass(frozen=True)
class IceServer:
    urls: str
    username: str | None = None
    credential: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"urls": self.urls}
        if self.username:
            out["username"] = self.username
            out["credential"] = self.credential or ""
        return out

    def to_aiortc(self) -> Any:
        from aiortc import RTCIceServer

        return RTCIceServer(urls=self.urls, username=self.username, credential=self.credential)


def parse_ice_server(spec: str) -> IceServer:
    """``stun:host:3478`` or ``turn:host:3478?transport=udp`` with ``username``/``credential``
    in the query (``turn:host:3478?username=u&credential=p``): one flag per server."""
    scheme = spec.split(":", 1)[0].lower()
    if scheme not in ("stun", "stuns", "turn", "turns") or ":" not in spec:
        raise UserError(f"--ice-server {spec!r}: give stun:HOST[:PORT] or turn:HOST[:PORT]?username=U&credential=P")
    query = parse_qs(urlsplit(spec.replace(":", "://", 1)).query)
    username = query.pop("username", [None])[0]
    credential = query.pop("credential", [None])[0]
    base = spec.split("?", 1)[0]
    rest = "&".join(f"{k}={v[0]}" for k, v in query.items())
    urls = f"{base}?{rest}" if rest else base
    if scheme.startswith("turn") and not (username and credential):
        raise UserError(f"--ice-server {base}: a TURN server needs ?username=U&credential=P")
    return IceServer(urls, username, credential)
