"""Face affect of a video over time, or of one image, as plain dicts (``agent perceive``).

A video is sampled at ``sample_fps`` (every frame when ``None``) and smoothed the same way as in
a live session, so the numbers match what the agent would have seen. An image is read once,
without smoothing or tracking.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from perception.face_affect import AffectSmoother, FaceReading, describe
from perception.seeing import FaceAnalysis, FaceAnalyzer
from perception.video_source import iter_video, load_image


def _row(analysis: FaceAnalysis, est: Any | None) -> dict[str, Any]:
    row: dict[str, Any] = {"t": round(analysis.t, 3), "faces": len(analysis.faces),
                           "present": analysis.user is not None}
    if analysis.user is None or analysis.reading is None:
        row.update(label="", vad=[0.0, 0.0, 0.0], confidence=0.0, aus={}, cues="")
        return row
    r: FaceReading = analysis.reading
    if est is None:  # a single image: the reading itself
        label, vad, conf, aus = r.label, r.vad, r.confidence, r.aus
        cues = describe(aus, label, analysis.looking)
    else:
        label, vad, conf, aus, cues = est.label, est.vad, est.confidence, est.details["aus"], est.cues
    q = r.quality
    row.update(label=label, vad=[round(v, 3) for v in vad], confidence=round(float(conf), 3),
               aus={k: round(float(v), 3) for k, v in aus.items()}, cues=cues,
               position=[round(v, 3) for v in (analysis.position or (0.0, 0.0))],
               looking=analysis.looking,
               head_deg=[round(math.degrees(a), 1) for a in analysis.user.head],
               quality={"size": round(q.size, 2), "pose": round(q.pose, 2),
                        "sharpness": round(q.sharpness, 2), "light": round(q.light, 2),
                        "occlusion": round(q.occlusion, 2)})
    return row


def perceive_image(path: str | Path | np.ndarray, *, analyzer: FaceAnalyzer | None = None) -> dict[str, Any]:
    """Label, VAD, confidence, AUs and the face count for one image (path or RGB array)."""
    image = load_image(path) if not isinstance(path, np.ndarray) else path
    own = analyzer is None
    analyzer = analyzer or FaceAnalyzer(video=False)
    try:
        return _row(analyzer.analyze(image, 0.0), None)
    finally:
        if own:
            analyzer.close()


def perceive_video(path: str | Path, *, sample_fps: float | None = 5.0,
                   analyzer: FaceAnalyzer | None = None, smoothing: float = 0.6) -> list[dict[str, Any]]:
    """One row per sampled frame: t (s), faces, present, label, vad, confidence, aus, cues."""
    own = analyzer is None
    analyzer = analyzer or FaceAnalyzer(video=True)
    smoother = AffectSmoother(tau=smoothing)
    rows: list[dict[str, Any]] = []
    next_t = -math.inf
    try:
        for image, t in iter_video(path):
            if sample_fps and t + 1e-3 < next_t:
                continue
            next_t = t + (1.0 / sample_fps if sample_fps else 0.0)
            analysis = analyzer.analyze(image, t)
            if analysis.reading is not None:
                smoother.update(analysis.reading)
            else:
                smoother.decay(t)
            est = smoother.estimate(t, analysis.looking) if analysis.reading is not None else None
            rows.append(_row(analysis, est))
    finally:
        if own:
            analyzer.close()
    return rows
