"""One modality's estimate of the user's affect, the unit that fusion combines."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

VAD = tuple[float, float, float]


def vad3(values: Iterable[float]) -> VAD:
    """Three numbers (a tuple, list or array) as a VAD triple of plain floats."""
    v, a, d = (float(x) for x in values)
    return (v, a, d)


@dataclass(frozen=True, slots=True)
class AffectEstimate:
    """VAD (each axis in [-1, 1]) with a confidence in [0, 1] and a monotonic timestamp.

    ``cues`` is the estimate in plain words for the LLM prompt ("smiles slightly",
    "speaks fast and loud"); ``details`` holds modality-specific numbers (AUs, F0, ...).
    A confidence of 0 means "no evidence", never "neutral evidence".
    """

    source: str  # "face" | "voice" | "text"
    vad: tuple[float, float, float]
    confidence: float
    t: float
    label: str = ""
    cues: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FusedAffect:
    """The user's affect as one estimate; ``cues`` joins the modalities' words for the prompt."""

    vad: tuple[float, float, float]
    confidence: float
    label: str = ""
    cues: str = ""
    sources: dict[str, float] = field(default_factory=dict)  # modality -> its current confidence

    def to_dict(self) -> dict[str, object]:
        return {"label": self.label, "vad": [round(x, 4) for x in self.vad],
                "confidence": round(self.confidence, 4), "cues": self.cues,
                "sources": {k: round(v, 4) for k, v in self.sources.items()}}
