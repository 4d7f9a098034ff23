"""``agent run``: the live agent, or the same pipeline fed from files."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from agent.commands import common
from plugins.cli import add_arguments as add_plugin_arguments


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="talk to the agent (live, or driven from files)",
        description="Live: camera, microphone, speakers and the virtual camera where present "
                    "(each missing device is reported once and the agent goes on). With "
                    "--input-audio/--input-video the same pipeline runs from files and records "
                    "everything the agent showed and said to --output.")
    common(p)
    p.add_argument("--input-audio", type=Path, metavar="FILE", help="the user's voice from a file")
    p.add_argument("--input-video", type=Path, metavar="FILE", help="the user's face from a file")
    p.add_argument("--output", type=Path, metavar="OUT.mp4", help="record the agent (video + audio)")
    p.add_argument("--events", type=Path, metavar="OUT.jsonl", help="write every event as JSON lines")
    p.add_argument("--fast", action="store_true",
                   help="with input files: do not pace them at real time")
    add_plugin_arguments(p)
    p.add_argument("--llm", choices=("auto", "ollama", "openai", "embedded"),
                   help="override the persona's LLM backend")
    p.add_argument("--avatar-photo", metavar="PORTRAIT.jpg", help="animate a portrait instead")
    p.add_argument("--audio-device", help="output device name or index (e.g. agent_mic)")
    p.add_argument("--camera", type=int, default=0, help="camera index (default 0)")
    p.add_argument("--user", metavar="NAME",
                   help="who is talking: the agent remembers each user apart (default: your OS user name; "
                        "with input files: nobody, unless named)")
    p.add_argument("--no-microphone", action="store_true", help="type to the agent instead of talking")
    p.add_argument("--no-virtual-camera", action="store_true")
    p.add_argument("--no-window", action="store_true")
    p.add_argument("--asr-model", metavar="NAME|PATH",
                   help="faster-whisper model (default: the bundled tiny.en, or multilingual base for "
                        "a persona that speaks another language)")
    p.add_argument("--allow-download", action="store_true",
                   help="let --asr-model fetch a model that is not on this machine (once)")
    p.add_argument("--renderer", metavar="NAME",
                   help="a renderer another package registers (entry point embodied_agent.renderers)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.core.errors import UserError
    from agent.pipeline import PipelineOptions
    from persona.config import get_persona

    persona = get_persona(args.persona, args.config)
    for path in (args.input_audio, args.input_video):
        if path is not None and not path.exists():
            raise UserError(f"{path}: no such file")
    if args.output is not None and args.output.suffix.lower() not in (".mp4", ".mkv", ".mov"):
        raise UserError(f"--output {args.output}: write a video file (.mp4)")
    opts = PipelineOptions(input_audio=args.input_audio, input_video=args.input_video,
                           output=args.output, events=args.events, realtime=not args.fast,
                           plugins=args.plugin, plugin_policy=args.plugin_policy, fps=args.fps,
                           seed=args.seed, llm_backend=args.llm, avatar_photo=args.avatar_photo,
                           renderer=args.renderer, virtual_camera=not args.no_virtual_camera,
                           window=not args.no_window, audio_device=args.audio_device,
                           camera=args.camera, asr_model=args.asr_model,
                           allow_download=args.allow_download, microphone=not args.no_microphone,
                           user=_user(args))
    return asyncio.run(_main(persona, opts))


def _user(args: argparse.Namespace) -> str | None:
    """Who the session remembers: --user, else the OS user when it is live (a recording replayed
    from files is not necessarily the person at this machine: it is remembered only when named)."""
    from agent.memory.paths import session_user

    if args.user is None and (args.input_audio is not None or args.input_video is not None):
        return None
    return session_user(args.user)


async def _main(persona, opts) -> int:  # noqa: ANN001
    from agent.core.bus import EventBus
    from agent.core.events import Notice
    from agent.pipeline import build_pipeline
    from agent.session import Session

    bus = EventBus()
    pipeline = await build_pipeline(persona, opts, bus)
    bus.observe(lambda e: print(f"agent: {e.text}", file=sys.stderr, flush=True)
                if isinstance(e, Notice) and e.level != "debug" else None)
    async with pipeline:
        report = await Session(pipeline, bus=bus, events_path=opts.events).run()
        recording = pipeline.recording
        if recording is not None and recording.keep_frames:
            print(f"agent: writing {recording.path} ...", file=sys.stderr, flush=True)
            path = await asyncio.to_thread(recording.write, pipeline.renderer, pipeline.animator)
            print(f"agent: recorded the session to {path}", file=sys.stderr, flush=True)
        elif recording is not None:
            print(f"agent: recorded the session to {recording.path}", file=sys.stderr, flush=True)
    for i, spans in enumerate(report.turns, 1):
        line = "  ".join(f"{k}={v:.2f}s" for k, v in spans.items())
        print(f"agent: turn {i}: {line}", file=sys.stderr)
    logging.getLogger(__name__).debug("session closed")
    return 0
