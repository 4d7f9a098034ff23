"""Start ``agent serve``: check where it may listen, load the models once, serve until stopped.

Listening beyond loopback needs a token (``--token`` or ``$AGENT_TOKEN``) and HTTPS
(``--cert/--key``): browsers grant the microphone only to secure pages or localhost, and the
token travels in every request. Ctrl-C or SIGTERM ends every session (each under its deadline)
and the process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import signal
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.core.access import AccessDenied, AccessPolicy, is_loopback
from agent.core.errors import UserError
from agent.serve.ice import IceServer

log = logging.getLogger(__name__)


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    cert: Path | None = None
    key: Path | None = None
    origins: list[str] = field(default_factory=list)
    ice_servers: list[IceServer] = field(default_factory=list)
    capacity: int = 4
    fps: float = 30.0
    size: tuple[int, int] = (512, 512)
    llm_backend: str | None = None
    llm_workers: int = 4
    user: str | None = None  # whom every session remembers under (a kiosk); default: each its own


def check_listen(cfg: ServeConfig, policy: AccessPolicy) -> ssl.SSLContext | None:
    """The TLS context to serve with (None: plain HTTP on loopback); refuses what is unsafe."""
    try:
        policy.check_bind(cfg.host)
    except AccessDenied as e:
        raise UserError(f"{e} (--token), and HTTPS with --cert/--key") from None
    if (cfg.cert is None) != (cfg.key is None):
        raise UserError("give both --cert and --key (PEM files) for HTTPS")
    if cfg.cert is None:
        if not is_loopback(cfg.host):
            raise UserError(f"listening on {cfg.host} needs HTTPS: give --cert and --key (browsers allow the "
                            "microphone only on secure pages or localhost)")
        return None
    assert cfg.key is not None
    for path in (cfg.cert, cfg.key):
        if not path.is_file():
            raise UserError(f"{path}: no such file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(cfg.cert), str(cfg.key))
    except (ssl.SSLError, ValueError) as e:
        raise UserError(f"--cert {cfg.cert} / --key {cfg.key}: cannot use them ({e.__class__.__name__}: "
                        f"{e}); give a PEM certificate and its private key") from None
    return context


async def preload(persona: Any, models: Any, cfg: ServeConfig, progress: Callable[[str], None]) -> None:
    """Load and warm the shared models with a session that never runs, so the first peer does
    not wait for them (the session's own state is thrown away)."""
    from agent.core.bus import EventBus
    from agent.pipeline import PipelineOptions, build_pipeline
    from agent.serve.audio_out import PeerAudioOutput
    from agent.serve.inputs import PeerAudioSource

    opts = PipelineOptions(audio_source=PeerAudioSource(), audio_output=PeerAudioOutput(),
                           fps=cfg.fps, size=cfg.size, llm_backend=cfg.llm_backend,
                           virtual_camera=False, window=False)
    pipeline = await build_pipeline(persona, opts, EventBus(), models, progress=progress)
    for notice in pipeline.notices:
        progress(notice)
    await pipeline.aclose()


async def serve(persona: Any, cfg: ServeConfig, *, say: Callable[[str], None] | None = None,
                stop: asyncio.Event | None = None) -> None:
    from aiohttp import web

    from agent.serve import ice
    from agent.serve.models import ServeModels
    from agent.serve.peer import PeerOptions
    from agent.serve.server import Server

    say = say or (lambda text: print(f"agent: {text}", file=sys.stderr, flush=True))
    policy = AccessPolicy.of(cfg.token, cfg.origins)
    tls = check_listen(cfg, policy)
    local = is_loopback(cfg.host)
    ice.loopback_only(local)
    models = ServeModels(cfg.llm_workers)
    loop = asyncio.get_running_loop()
    # Every session sends its blocking work to the loop's default executor: aiortc's Opus and
    # VP8 encoders (50 + 30 jobs a second), the face renders, hearing's VAD on each 32 ms frame.
    # With asyncio's default pool (cores + 4 threads) a short VAD job queues behind renders and
    # encodes, hearing falls behind and the microphone drops audio once the cores are busy;
    # a pool with room for every session's jobs lets the OS share the cores instead.
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=8 * cfg.capacity + 8,
                                                     thread_name_prefix="serve")
    loop.set_default_executor(executor)
    stop = stop or asyncio.Event()

    def signals() -> None:
        # a session installs its own Ctrl-C handler while it runs and removes it when it ends:
        # the server's goes back on each time, and ends them all
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
                pass

    runner: web.AppRunner | None = None
    server: Server | None = None
    try:
        signals()
        await preload(persona, models, cfg, say)
        options = PeerOptions(fps=cfg.fps, size=cfg.size, ice_servers=cfg.ice_servers, loopback_media=local,
                              llm_backend=cfg.llm_backend, user=cfg.user)
        server = Server(persona, models, policy, options, capacity=cfg.capacity, https=tls is not None,
                        on_change=signals)
        runner = web.AppRunner(server.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, cfg.host, cfg.port, ssl_context=tls)
        try:
            await site.start()
        except OSError as e:
            raise UserError(f"cannot listen on {cfg.host}:{cfg.port} ({e.strerror or e}); "
                            "pick another --port") from None
        port = runner.addresses[0][1] if runner.addresses else cfg.port
        host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
        scheme = "https" if tls else "http"
        say(f"serving {persona.display_name} ({persona.name}) at {scheme}://{host}:{port}/ "
            f"(up to {cfg.capacity} sessions; Ctrl-C stops)")
        if cfg.token and not local:
            say(f"open {scheme}://{host}:{port}/#token=<the token> on the other machine")
        await stop.wait()
        say("stopping")
    finally:
        if server is not None:
            await server.aclose()
        if runner is not None:
            await runner.cleanup()
        await models.aclose()
        ice.loopback_only(False)
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass
