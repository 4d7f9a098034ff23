"""Face, voice and text estimates of the user's affect, fused into one smoothed estimate.

Each modality keeps its own exponentially forgetting memory: its VAD is the confidence- and
recency-weighted mean of its estimates, its confidence the freshest strong evidence, halved every
``half_life`` seconds. Fusion weights every axis by that confidence times how well the modality
reads the axis (prosody reads arousal far better than valence: Juslin & Laukka 2003; the
reliability numbers are a design choice). A modality with no estimate, or only stale or
zero-confidence ones, adds no weight: it is never treated as neutral evidence. With no evidence
at all the fused confidence is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.core.affect import AffectEstimate, FusedAffect
from persona.emotion import nearest_label

# how well each modality reads V, A, D (design choice, relative weights)
RELIABILITY: dict[str, tuple[float, float, float]] = {
    "face": (1.0, 0.7, 0.6),
    "voice": (0.4, 1.0, 0.7),
    "text": (0.9, 0.6, 0.5),
}
_DEFAULT_RELIABILITY = (0.5, 0.5, 0.5)
_ORDER = ("face", "voice", "text")


@dataclass
class _Memory:
    t: float
    weight: float  # decayed sum of confidences behind ``vad``
    vad: np.ndarray
    confidence: float  # decayed max of confidences
    cues: str


class AffectFusion:
    """``update(estimate)`` as estimates arrive; ``current(now)`` when the dialogue needs one.

    ``min_confidence``: a modality whose decayed confidence falls below it is left out of the
    cues (it still adds its small weight to the VAD).
    """

    def __init__(self, half_life: float = 4.0, min_confidence: float = 0.05) -> None:
        if half_life <= 0:
            raise ValueError(f"half_life must be > 0 seconds, got {half_life}")
        self.half_life = half_life
        self.min_confidence = min_confidence
        self._memory: dict[str, _Memory] = {}

    def _decay(self, dt: float) -> float:
        return float(0.5 ** (max(0.0, dt) / self.half_life))

    def update(self, est: AffectEstimate) -> None:
        conf = float(np.clip(est.confidence, 0.0, 1.0))
        if conf <= 0.0:
            return  # no evidence: nothing to remember, nothing to pull toward neutral
        vad = np.clip(np.asarray(est.vad, dtype=np.float64), -1.0, 1.0)
        mem = self._memory.get(est.source)
        if mem is None:
            self._memory[est.source] = _Memory(est.t, conf, vad, conf, est.cues)
            return
        k = self._decay(est.t - mem.t)
        weight = mem.weight * k + conf
        mem.vad = (mem.vad * mem.weight * k + vad * conf) / weight
        mem.weight = weight
        mem.confidence = max(conf, mem.confidence * k)
        mem.t = max(mem.t, est.t)
        if est.cues:
            mem.cues = est.cues

    def reset(self) -> None:
        self._memory.clear()

    def current(self, now: float) -> FusedAffect:
        sources: dict[str, float] = {}
        num = np.zeros(3)
        den = np.zeros(3)
        cues = []
        for name in sorted(self._memory, key=lambda s: (_ORDER.index(s) if s in _ORDER else 9, s)):
            mem = self._memory[name]
            c = mem.confidence * self._decay(now - mem.t)
            sources[name] = c
            w = c * np.asarray(RELIABILITY.get(name, _DEFAULT_RELIABILITY))
            num += w * mem.vad
            den += w
            if c >= self.min_confidence and mem.cues:
                cues.append(mem.cues)
        if not sources or den.sum() <= 0.0:
            return FusedAffect((0.0, 0.0, 0.0), 0.0, sources=sources)
        vad = tuple(float(x) for x in num / np.maximum(den, 1e-12))
        confidence = 1.0 - float(np.prod([1.0 - c for c in sources.values()]))
        return FusedAffect(vad, confidence, nearest_label(vad), "; ".join(cues), sources)  # type: ignore[arg-type]
