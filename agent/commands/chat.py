"""``agent chat``: talk to a persona in the terminal (text only), or answer one message as JSON.

The agent's emotion is chosen by the personality-affected transition before the LLM writes the
reply; with ``--json`` the output carries that emotion and the user's affect read from the words.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from agent.commands import common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="text chat with a persona (emotion-conditioned replies)",
                       description="Chat with a persona in the terminal. With --message, answer once.")
    p.add_argument("--message", "-m", metavar="TEXT", help="answer this one message and exit")
    p.add_argument("--json", action="store_true",
                   help="with --message: print one JSON object {reply, emotion, user_affect}")
    common(p)
    p.set_defaults(func=run)


def _notice(line: str) -> None:
    print(f"agent: {line}", file=sys.stderr, flush=True)


class _Session:
    def __init__(self, persona) -> None:  # noqa: ANN001
        from agent.dialogue import Dialogue
        from perception.fusion import AffectFusion
        from persona.context_encoder import ContextEncoder
        from persona.transition import EmotionEngine

        self.encoder = ContextEncoder()
        self.engine = EmotionEngine(persona, encoder=self.encoder)
        self.fusion = AffectFusion()
        self.persona = persona
        self._dialogue_cls = Dialogue
        self.dialogue = None

    def perceive(self, text: str, now: float):  # noqa: ANN201
        self.fusion.update(self.encoder.text_affect.estimate(text, now))
        return self.fusion.current(now)


async def _open(args: argparse.Namespace):  # noqa: ANN202
    from agent.llm import make_llm
    from persona.config import get_persona

    persona = get_persona(args.persona, args.config)
    llm_task = make_llm(persona.llm, persona_name=persona.display_name.split()[0],
                        language=persona.language, notice=_notice)
    session, llm = await asyncio.gather(asyncio.to_thread(_Session, persona), llm_task)
    session.dialogue = session._dialogue_cls(persona, llm, session.engine)
    return session, llm


async def _turn(session: _Session, text: str) -> tuple[object, object, list[str]]:
    now = time.monotonic()
    affect = await asyncio.to_thread(session.perceive, text, now)
    emotion = await session.dialogue.choose_emotion_async(text, affect, now)
    return affect, emotion, []


async def _once(args: argparse.Namespace) -> int:
    session, llm = await _open(args)
    try:
        affect, emotion, _ = await _turn(session, args.message)
        reply = await session.dialogue.reply(args.message, emotion, affect)
        session.dialogue.commit(args.message, reply)
    finally:
        await llm.aclose()
    if args.json:
        print(json.dumps({"reply": reply, "emotion": emotion.to_dict(), "user_affect": affect.to_dict()},
                         ensure_ascii=False))
    else:
        print(f"[{emotion.label} {emotion.intensity:.1f}] {reply}")
    return 0


async def _interactive(args: argparse.Namespace) -> int:
    session, llm = await _open(args)
    name = session.persona.display_name
    print(f"{name} (Ctrl-D to leave)", file=sys.stderr)
    if session.persona.greeting:
        print(f"{name}: {session.persona.greeting}")
        session.dialogue.commit("", session.persona.greeting)
    try:
        while True:
            try:
                text = (await asyncio.to_thread(input, "you> ")).strip()
            except EOFError:
                print(file=sys.stderr)
                return 0
            if not text:
                continue
            affect, emotion, _ = await _turn(session, text)
            cues = f" (you: {affect.cues})" if affect.cues else ""
            print(f"[{emotion.label} {emotion.intensity:.1f}]{cues}", file=sys.stderr)
            print(f"{name}: ", end="", flush=True)
            said = []
            async for sentence in session.dialogue.stream_reply(text, emotion, affect):
                said.append(sentence)
                print(sentence, end=" ", flush=True)
            print()
            session.dialogue.commit(text, " ".join(said))
    finally:
        await llm.aclose()


def run(args: argparse.Namespace) -> int:
    from agent.errors import UserError

    if args.json and args.message is None:
        raise UserError("--json needs --message TEXT (interactive chat prints text)")
    if args.message is not None and not args.message.strip():
        raise UserError("--message is empty; give the text to answer")
    return asyncio.run(_once(args) if args.message is not None else _interactive(args))
