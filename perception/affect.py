"""One modality's estimate of the user's affect, the unit that fusion combines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
