"""``agent chat``: talk to a persona in the terminal (text only), or answer one message as JSON.

The same session as ``agent run`` with text in and text out: the user's words are read for
affect and fused, the persona's emotion is chosen by the personality-affected transition before
the LLM writes the reply; with ``--json`` the output carries that emotion and the user's affect.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from agent.commands import common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="text chat with a persona (emotion-conditioned replies)",
                       description="Chat with a persona in the terminal. With --message, answer once.")
    p.add_argument("--message", "-m", metavar="TEXT", help="answer this one message and exit")
    p.add_argument("--json", action="store_true",
                   help="with --message: print one JSON object {reply, emotion, user_affect, memories}")
    p.add_argument("--llm", choices=("auto", "ollama", "openai", "embedded"),
                   help="override the persona's LLM backend")
    p.add_argument("--user", metavar="NAME",
                   help="who is talking: the agent remembers each user apart (default: your OS user name)")
    common(p)
    p.set_defaults(func=run)


class _Transcript:
    """What the session said and felt, gathered from its events."""

    def __init__(self, name: str, interactive: bool) -> None:
        self.name, self.interactive = name, interactive
        self.sentences: list[str] = []
        self.emotion: dict[str, Any] | None = None
        self.user_affect: dict[str, Any] | None = None
        self._line_open = False

    def observe(self, e: Any) -> None:
        from agent.core import events as ev

        if isinstance(e, ev.AgentEmotion):
            self.emotion = {"label": e.label, "vad": [round(x, 4) for x in e.vad],
                            "intensity": round(e.intensity, 4)}
        elif isinstance(e, ev.UserAffect):
            self.user_affect = {"label": e.label, "vad": [round(x, 4) for x in e.vad],
                                "confidence": round(e.confidence, 4), "cues": e.cues}
            if self.interactive:
                cues = f" (you: {e.cues})" if e.cues else ""
                print(f"[{e.label}]{cues}", file=sys.stderr, flush=True)
        elif isinstance(e, ev.UtteranceEnded) and self.interactive and self._line_open:
            print(flush=True)
            self._line_open = False
        elif isinstance(e, ev.Notice) and e.level != "debug":
            print(f"agent: {e.text}", file=sys.stderr, flush=True)

    def sentence(self, text: str) -> None:
        self.sentences.append(text)
        if self.interactive:
            if not self._line_open:
                print(f"{self.name}: ", end="", flush=True)
                self._line_open = True
            print(text, end=" ", flush=True)


async def _chat(args: argparse.Namespace) -> int:
    from agent.core.bus import EventBus
    from agent.memory.paths import session_user
    from agent.pipeline import PipelineOptions, build_pipeline
    from agent.session import Session
    from persona.config import get_persona

    persona = get_persona(args.persona, args.config)
    once = args.message is not None
    bus = EventBus()
    quiet = lambda text: None  # noqa: E731 - progress lines would break --json's one line
    opts = PipelineOptions(mode="text", llm_backend=args.llm, user=session_user(args.user))
    pipeline = await build_pipeline(persona, opts, bus, progress=quiet if once else _progress)
    pipeline.greet = not once
    transcript = _Transcript(persona.display_name, interactive=not once)
    bus.observe(transcript.observe)
    if not once:
        print(f"{persona.display_name} (Ctrl-D to leave)", file=sys.stderr)
    session = Session(pipeline, bus=bus, on_text=transcript.sentence,
                      typed=[args.message] if once else None)
    await session.run()
    if not once:
        return 0
    reply = " ".join(transcript.sentences)
    if args.json:
        # what memory brought into the prompt (agent.memory); empty when nothing was recalled
        memories = [m for turn in pipeline.memory.recalled for m in turn] if pipeline.memory else []
        print(json.dumps({"reply": reply, "emotion": transcript.emotion,
                          "user_affect": transcript.user_affect, "memories": memories}, ensure_ascii=False))
    else:
        label = transcript.emotion["label"] if transcript.emotion else "neutral"
        intensity = transcript.emotion["intensity"] if transcript.emotion else 0.0
        print(f"[{label} {intensity:.1f}] {reply}")
    return 0


def _progress(text: str) -> None:
    print(f"agent: {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from agent.core.errors import UserError

    if args.json and args.message is None:
        raise UserError("--json needs --message TEXT (interactive chat prints text)")
    if args.message is not None and not args.message.strip():
        raise UserError("--message is empty; give the text to answer")
    return asyncio.run(_chat(args))
