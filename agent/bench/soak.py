"""Soak: a long scripted session at faster than real time. Reports memory growth, latency
drift, late face frames and queue depths; nothing may grow without bound.

Typed turns drive the real session (embedded LLM, emotion engine, espeak-ng speech, animator)
with audio "played" on a virtual clock, so replies take only as long as they take to compute.
"""

from __future__ import annotations

import asyncio
import os
import time

from agent.bench.latency import QUESTIONS
from agent.bench.report import BenchOptions, Figure, Suite, Timing

DEFAULT_MINUTES = 30.0
QUICK_MINUTES = 0.25


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _soak(minutes: float, persona_name: str, config: str | None) -> dict:
    from agent.core import events as ev
    from agent.core.bus import EventBus
    from agent.pipeline import PipelineOptions, build_pipeline
    from agent.session import Session
    from persona.config import get_persona

    persona = get_persona(persona_name, config)
    bus = EventBus()
    opts = PipelineOptions(realtime=False, llm_backend="embedded", tts_backend="espeak", microphone=False,
                           keyboard=False, speakers=False, virtual_camera=False, window=False,
                           record_fallback=False)
    parts = await build_pipeline(persona, opts, bus, progress=lambda text: None)
    parts.greet = False
    session = Session(parts, bus=bus, say=lambda s: None)
    out: dict = {"rss": [], "latency": [], "depth": 0}
    done = asyncio.Event()

    def observe(e: ev.Event) -> None:
        if isinstance(e, ev.TurnLatency):  # a turn may end without audio (an empty reply)
            if e.first_audio is not None:
                out["latency"].append((e.emotion or 0) + (e.llm_first_sentence or 0) + e.first_audio)
            done.set()
        out["depth"] = max(out["depth"], max(bus.depths().values(), default=0))

    bus.observe(observe)
    runner = asyncio.ensure_future(session.run())
    await session.ready.wait()
    deadline = time.monotonic() + minutes * 60
    i = 0
    while time.monotonic() < deadline:
        done.clear()
        await bus.publish(ev.UserText(text=QUESTIONS[i % len(QUESTIONS)]))
        await asyncio.wait_for(done.wait(), 120)
        out["rss"].append(rss_mb())
        i += 1
    await bus.publish(ev.Stop(reason="soak done"))
    report = await runner
    out.update(turns=i, frames=report.frames, late=report.late_frames, loop_lag_ms=report.loop_lag_ms,
               animator_schedule=len(getattr(parts.animator, "_utterances", [])))
    await parts.aclose()
    return out


def run(opts: BenchOptions) -> Suite:
    minutes = QUICK_MINUTES if opts.quick else float(opts.extra.get("soak_minutes") or DEFAULT_MINUTES)
    r = asyncio.run(_soak(minutes, opts.extra.get("persona") or "tutor", opts.extra.get("config")))
    suite = Suite("soak", models={"llm": "embedded gemma-3-270m", "tts": "espeak-ng"})
    third = max(1, len(r["rss"]) // 3)
    lat = r["latency"]
    suite.timings.append(Timing("turn latency (emotion → first audio)", lat, "s"))
    if r["loop_lag_ms"]:
        suite.timings.append(Timing("loop lag", r["loop_lag_ms"], "ms"))
    suite.figures += [
        Figure("minutes", minutes), Figure("turns", r["turns"]),
        Figure("memory after warm-up", r["rss"][min(third, len(r["rss"]) - 1)], "MB"),
        Figure("memory growth, first third → end", r["rss"][-1] - r["rss"][min(third, len(r["rss"]) - 1)], "MB"),
        Figure("latency drift, last third / first third (median)",
               _median(lat[-third:]) / max(1e-9, _median(lat[:third])), "x"),
        Figure("face frames", r["frames"]), Figure("late face frames", r["late"]),
        Figure("deepest queue seen", r["depth"]),
    ]
    return suite


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if s else 0.0
