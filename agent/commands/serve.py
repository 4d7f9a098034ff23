"""``agent serve``: talk to the agent from a browser (WebRTC), one session per connection."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from agent.commands import common


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"give the size as WIDTHxHEIGHT, e.g. 512x512 (got {text!r})") from None
    return w, h


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="talk to the agent from a browser (WebRTC; many sessions at once)",
        description="Serves a web page that talks to the agent over WebRTC: the browser's "
                    "microphone (and camera) in, the agent's voice and face out, the transcript "
                    "and its emotion on a data channel. One session per connection; the models "
                    "are loaded once and shared. Operator API: GET /api/sessions[/ID]. Loopback "
                    "only by default; any other interface needs --token and --cert/--key.")
    common(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--token", help="access token (default $AGENT_TOKEN); needed beyond loopback")
    p.add_argument("--cert", type=Path, metavar="CERT.pem", help="TLS certificate (HTTPS)")
    p.add_argument("--key", type=Path, metavar="KEY.pem", help="TLS private key (HTTPS)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="another web origin whose pages may use the API (repeatable)")
    p.add_argument("--ice-server", action="append", default=[], metavar="URL",
                   help="STUN/TURN server for peers behind NAT, e.g. stun:stun.example.org:3478 or "
                        "turn:turn.example.org:3478?username=U&credential=P (repeatable)")
    p.add_argument("--max-sessions", type=int, default=4, metavar="N",
                   help="sessions at once (default 4); more get 503, for a load balancer to retry elsewhere")
    p.add_argument("--llm", choices=("auto", "ollama", "openai", "embedded"),
                   help="override the persona's LLM backend")
    p.add_argument("--llm-workers", type=int, default=4, metavar="N",
                   help="replies generated at once by an LLM server (default 4; the embedded model: 1)")
    p.add_argument("--user", metavar="NAME",
                   help="remember every session as this user (default: the name the page signs in "
                        "with, else an anonymous id per session)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--size", type=_size, default=(512, 512), metavar="WxH", help="video size (default 512x512)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.core.errors import UserError
    from agent.serve.ice import parse_ice_server
    from agent.serve.run import ServeConfig, serve
    from persona.config import get_persona

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: give a port between 0 and 65535")
    if args.max_sessions < 1 or args.llm_workers < 1:
        raise UserError("--max-sessions and --llm-workers must be 1 or more")
    if not 1 <= args.fps <= 60:
        raise UserError(f"--fps {args.fps:g}: give a frame rate between 1 and 60")
    persona = get_persona(args.persona, args.config)
    cfg = ServeConfig(host=args.host, port=args.port, token=args.token, cert=args.cert, key=args.key,
                      origins=args.allow_origin, ice_servers=[parse_ice_server(s) for s in args.ice_server],
                      capacity=args.max_sessions, fps=args.fps, size=args.size, llm_backend=args.llm,
                      llm_workers=args.llm_workers, user=args.user)
    asyncio.run(serve(persona, cfg))
    return 0
