"""``agent bench animation``: FaceState frames per second on one CPU core, and the animation's
own figures (blink rate, mouth/audio sync) measured the way the tests measure them.

The process is pinned to one core and BLAS to one thread while frames are timed, so the
number is what one core gives a session. Speech is real: the persona's voice synthesizes the
utterance (Piper by default), and the mouth is driven from its phoneme timings, or from its
audio alone for the fallback path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from agent.bench.report import BenchOptions, Figure, Suite, Timing

if TYPE_CHECKING:
    from agent.core.speech import SpeechChunk
    from persona.config import Persona
    from persona.emotion import Emotion

log = logging.getLogger(__name__)

UTTERANCE = ("Let us look at the next problem together. Which number is bigger, seven or nine? "
             "Good thinking! Now multiply both sides by two and tell me what you get.")
QUICK_UTTERANCE = "Good thinking! Now multiply both sides by two."
FPS = 30.0


def run(opts: BenchOptions) -> Suite:
    from agent.tts import make_tts, prosody_for
    from persona.config import get_persona
    from persona.emotion import Emotion

    suite = Suite("animation")
    persona = get_persona(opts.extra.get("persona") or "tutor", opts.extra.get("config"))
    emotion = Emotion.from_label("joy", 0.6)
    chunks: list[SpeechChunk] = []
    try:
        tts = make_tts(persona.voice, persona.language)
        text = QUICK_UTTERANCE if opts.quick else UTTERANCE
        chunks = list(tts.synthesize(text, prosody_for(emotion, persona.voice)))
        suite.models["tts"] = f"{tts.name} (speech the mouth is timed on)"
    except Exception as e:  # noqa: BLE001 - idle frames are still measured without a voice
        suite.notes.append(f"no speech to animate ({e}); speaking scenarios skipped")
        suite.ok = False

    repeats = 2 if opts.quick else 7
    seconds = 2.0 if opts.quick else 10.0
    with one_core():
        for name, make in _scenarios(persona, emotion, chunks, opts.seed):
            samples = []
            for _ in range(repeats):
                animator, t0, t1 = make(seconds)
                start = time.perf_counter()
                n = len(animator.frames(t0, t1))
                samples.append(n / (time.perf_counter() - start))
            suite.timings.append(Timing(f"frames/s, {name}", samples, "fps"))
        if chunks:
            suite.timings.append(Timing("speak(): schedule one sentence",
                                        _schedule_ms(persona, chunks), "ms"))

    minutes = 1.0 if opts.quick else 5.0
    rest, conversation = _blink_rates(persona, minutes, opts.seed)
    suite.figures += [Figure(f"blinks per minute at rest ({minutes:g} simulated min)", rest, "/min"),
                      Figure(f"blinks per minute in conversation ({minutes:g} simulated min)",
                             conversation, "/min")]
    if chunks:
        suite.figures += [
            Figure("mouth lag behind audio, phoneme-driven", _lag_ms(persona, chunks), "ms"),
            Figure("mouth lag behind audio, audio-driven fallback",
                   _lag_ms(persona, [replace(c, phonemes=()) for c in chunks]), "ms"),
            Figure("utterance length", sum(c.duration for c in chunks), "s"),
        ]
    suite.notes.append(f"one CPU core (affinity), BLAS 1 thread; {repeats} runs x {seconds:g} s of "
                       f"frames at {FPS:g} fps per scenario; real time needs {FPS:g} fps")
    suite.notes.append("lag: peak of the cross-correlation of lip opening with the 25 ms RMS "
                       "envelope, both at 200 Hz (positive: the mouth is late)")
    return suite


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """Pin this process to one CPU and numerical libraries to one thread, then restore."""
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if affinity:
        os.sched_setaffinity(0, {min(affinity)})
    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits

        limits: contextlib.AbstractContextManager[object] = threadpool_limits(1)
    except ImportError:
        limits = contextlib.nullcontext()
    try:
        with limits:
            yield
    finally:
        if affinity:
            os.sched_setaffinity(0, affinity)
        if torch is not None and torch_threads is not None:
            torch.set_num_threads(torch_threads)


def _scenarios(persona: Persona, emotion: Emotion, chunks: list[SpeechChunk], seed: int):
    from render.animator import Animator

    def idle(seconds: float):
        a = Animator(persona, fps=FPS, seed=seed)
        a.set_emotion(emotion, 0.0)
        return a, 0.0, seconds

    def listening(seconds: float):
        a = Animator(persona, fps=FPS, seed=seed)
        a.set_emotion(emotion, 0.0)
        a.set_listening(True, 0.0)
        user = np.zeros(52, np.float32)
        for k in range(int(seconds * FPS)):  # perception updates at camera rate
            user[23:25] = 0.5 + 0.3 * np.sin(k / 10)
            a.set_user_position((0.2, 0.05), k / FPS)
            a.set_user_affect(k / FPS, blendshapes=user)
        return a, 0.0, seconds

    def speaking(phonemes: bool):
        def make(seconds: float):
            a = Animator(persona, fps=FPS, seed=seed)
            a.set_emotion(emotion, 0.0)
            t = 0.0
            while t < seconds:
                for c in chunks:
                    a.speak(c if phonemes else replace(c, phonemes=()), t)
                    t += c.duration
            return a, 0.0, seconds
        return make

    yield "idle", idle
    yield "listening, user updates each frame", listening
    if chunks:
        yield "speaking from phonemes", speaking(True)
        yield "speaking from audio only", speaking(False)


def _schedule_ms(persona: Persona, chunks: list[SpeechChunk]) -> list[float]:
    from render.animator import Animator

    a = Animator(persona, fps=FPS)
    out, t = [], 0.0
    for _ in range(3):
        for c in chunks:
            start = time.perf_counter()
            a.speak(c, t)
            out.append(1000.0 * (time.perf_counter() - start))
            t += c.duration
    return out


def _blink_rates(persona: Persona, minutes: float, seed: int) -> tuple[float, float]:
    from render.animator import Animator

    def rate(animator: Animator) -> float:
        closed = np.array([f["eyeBlinkLeft"] > 0.5 for f in animator.frames(0.0, 60.0 * minutes)])
        return float(np.count_nonzero(closed[1:] & ~closed[:-1])) / minutes

    rest = Animator(persona, fps=FPS, seed=seed)
    talk = Animator(persona, fps=FPS, seed=seed)
    talk.set_listening(True, 0.0)
    talk.set_user_position((0.0, 0.0), 0.0)
    return rate(rest), rate(talk)


def _lag_ms(persona: Persona, chunks: list[SpeechChunk]) -> float:
    from render.animator import Animator
    from render.lipsync import RATE, envelope, lip_gap

    a = Animator(persona, fps=FPS, seed=0)
    t, envs = 0.5, []
    for c in chunks:
        a.speak(c, t)
        envs.append(envelope(c.audio, c.sample_rate)[:int(round(c.duration * RATE))])
        t += c.duration
    env = np.concatenate(envs)
    mouth = np.array([lip_gap(a.frame(0.5 + k / RATE).weights) for k in range(len(env))])
    x = (mouth - mouth.mean()) / (mouth.std() + 1e-12)
    y = (env - env.mean()) / (env.std() + 1e-12)
    window = int(0.15 * RATE)
    lags = list(range(-window, window + 1))
    n = len(x)
    xc = np.array([np.mean(x[max(0, k):n + min(0, k)] * y[max(0, -k):n + min(0, -k)]) for k in lags])
    i = int(np.argmax(xc))
    frac = 0.0
    if 0 < i < len(xc) - 1:
        y0, y1, y2 = (float(v) for v in xc[i - 1:i + 2])
        frac = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    return float((lags[i] + frac) * 1000.0 / RATE)
