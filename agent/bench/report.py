"""What a benchmark suite reports, printed as a table and written as JSON."""

from __future__ import annotations

import json
import platform
import statistics
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass
class BenchOptions:
    quick: bool = False
    peld: str | None = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Timing:
    """Repeated measurements of one quantity (seconds, ms, fps, ...)."""

    name: str
    samples: list[float]
    unit: str = "ms"

    def summary(self) -> dict[str, float]:
        s = sorted(self.samples)
        if not s:
            return {"n": 0}
        p95 = s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]
        return {"n": len(s), "min": s[0], "median": statistics.median(s), "p95": p95}


@dataclass
class Figure:
    """A single number (accuracy, F1, ratio)."""

    name: str
    value: float
    unit: str = ""


@dataclass
class Suite:
    name: str
    timings: list[Timing] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.name, "ok": self.ok, "models": self.models, "notes": self.notes,
            "timings": {t.name: {"unit": t.unit, **t.summary()} for t in self.timings},
            "figures": {f.name: {"value": f.value, "unit": f.unit} for f in self.figures},
        }

    def table(self) -> str:
        lines = [f"== {self.name}"]
        if self.timings:
            lines.append(f"  {'measure':<44} {'unit':>6} {'n':>5} {'min':>10} {'median':>10} {'p95':>10}")
            for t in self.timings:
                s = t.summary()
                if s["n"]:
                    lines.append(f"  {t.name:<44} {t.unit:>6} {s['n']:>5} {s['min']:>10.3f} "
                                 f"{s['median']:>10.3f} {s['p95']:>10.3f}")
        for f in self.figures:
            lines.append(f"  {f.name:<44} {f.value:>12.4f} {f.unit}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


_VERSIONED = ("torch", "numpy", "llama-cpp-python", "faster-whisper", "ctranslate2", "silero-vad",
              "piper-tts", "mediapipe", "transformers", "langchain-core", "av")


def machine() -> dict[str, Any]:
    import os

    versions = {}
    for dist in _VERSIONED:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:
        gpu = None
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "gpu": gpu, "versions": versions}


def write_json(suites: list[Suite], target: str) -> None:
    doc = {"machine": machine(), "suites": [s.to_dict() for s in suites]}
    text = json.dumps(doc, indent=2)
    if target == "-":
        print(text)
    else:
        Path(target).write_text(text + "\n")
