"""``render_clip``: speech chunks + an emotion → an mp4 of the talking face with its audio.

The chunks play back to back from t = 0 on the audio clock; the animator schedules each at the
time its first sample plays, and frame ``k`` shows audio time ``k / fps``. Video and audio are
written interleaved, batch by batch, so the file's two streams end within one frame.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from agent.core.errors import UserError

if TYPE_CHECKING:
    from agent.core.speech import SpeechChunk
    from agent.core.stages import Renderer
    from persona.config import Persona
    from persona.emotion import Emotion

log = logging.getLogger(__name__)

BATCH = 16  # frames rendered per call: big enough to amortise, small enough to stay in cache
FILE_RATE = 48000  # AAC pads its last 1024-sample frame: at 48 kHz that stays under a video frame


def render_clip(persona: Persona, chunks: Sequence[SpeechChunk], emotion: Emotion,
                path: str | Path, fps: float = 30, size: tuple[int, int] = (512, 512), seed: int = 0,
                renderer: Renderer | None = None, batch: int = BATCH) -> Path:
    from render.animator import Animator
    from render.renderer import make_renderer
    from render.sinks import VideoFileSink

    if not chunks:
        raise UserError("nothing to render: no speech chunks")
    rates = {c.sample_rate for c in chunks}
    if len(rates) != 1:
        raise UserError(f"speech chunks have different sample rates {sorted(rates)}; resample first")
    speech_rate = rates.pop()
    audio = np.concatenate([np.asarray(c.audio, dtype=np.float32).reshape(-1) for c in chunks])
    sample_rate = FILE_RATE
    if speech_rate != FILE_RATE:
        import soxr

        audio = soxr.resample(audio, speech_rate, FILE_RATE).astype(np.float32)
    animator = Animator(persona, fps=fps, seed=seed)
    animator.set_emotion(emotion, 0.0)
    start = 0.0
    for c in chunks:
        animator.speak(c, start)
        start += c.duration
    renderer = renderer or make_renderer(persona.avatar, size=size)
    duration = len(audio) / sample_rate
    n_frames = max(1, int(round(duration * fps)))
    path = Path(path)
    sink = VideoFileSink(path, fps=fps, size=renderer.size, sample_rate=sample_rate)
    try:
        renderer.push_audio(audio, sample_rate, 0.0)
        for k0 in range(0, n_frames, batch):
            k1 = min(n_frames, k0 + batch)
            s0 = int(round(k0 / fps * sample_rate))
            s1 = len(audio) if k1 == n_frames else int(round(k1 / fps * sample_rate))
            if s1 > s0:
                sink.write_audio(audio[s0:s1], sample_rate, s0 / sample_rate)
            states = [animator.frame(k / fps) for k in range(k0, k1)]
            frames = renderer.render(states)
            for k, frame in zip(range(k0, k1), frames):
                sink.write(frame, k / fps)
    finally:
        sink.close()
    log.info("rendered %s: %d frames, %.2f s", path, n_frames, duration)
    return path
