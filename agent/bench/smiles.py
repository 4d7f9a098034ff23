"""Smile vs neutral, paired: does the face reading give the smiling face the higher valence?

Pairs are made with the project's own photo-avatar renderer (``render.photo``) on public-domain
portraits that ship in installed packages: scikit-image's astronaut (Eileen Collins, NASA,
public domain) and matplotlib's Grace Hopper (US Navy photograph, public domain). Each portrait
is driven neutral and smiling (joy's action units at three intensities), also mirrored and with
the head turned, and seen plain, blurred, dark and small; both frames of a pair go through the
same analysis as a live camera frame (FaceLandmarker, the fer classifier,
``perception.face_affect``). A pair counts when the smiling
frame's valence is the higher; the smile blendshapes' own ranking is reported beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from agent.bench.report import Figure

INTENSITIES = (0.25, 0.5, 0.9)
YAWS = (-0.15, 0.0, 0.15)  # radians of head turn
# how the camera sees both faces of a pair: as rendered, out of focus, underexposed, small
CONDITIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "plain": lambda f: f,
    "blurred": lambda f: _cv2().GaussianBlur(f, (0, 0), 2.5),
    "dark": lambda f: (f * 0.45).astype(np.uint8),
    "small": lambda f: _cv2().resize(_cv2().resize(f, (128, 128), interpolation=_cv2().INTER_AREA), f.shape[1::-1]),
}


def _cv2() -> Any:
    import cv2

    return cv2
_SMILE = ("mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft", "cheekSquintRight")


def portraits() -> dict[str, np.ndarray]:
    import skimage.data

    out = {"astronaut": np.ascontiguousarray(skimage.data.astronaut())}
    try:
        import cv2
        import matplotlib.cbook

        path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        out["hopper"] = np.ascontiguousarray(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))
    except Exception:  # matplotlib comes with mediapipe; without it one portrait remains
        pass
    return out


Reading = tuple[float, float]  # (face valence, smile blendshapes summed)


def pairs(quick: bool = False) -> list[tuple[str, Reading, Reading]]:
    """(who, neutral reading, smiling reading) per pair."""
    from agent.core.face_state import INDEX, FaceState
    from perception.seeing import FaceAnalyzer
    from persona.emotion import Emotion
    from render.expression import blendshapes_from_aus, emotion_aus
    from render.photo import PhotoRenderer

    analyzer = FaceAnalyzer(video=False)
    smile_idx = [INDEX[n] for n in _SMILE]
    out: list[tuple[str, Reading, Reading]] = []
    try:
        for name, image in portraits().items():
            for flip in ((False,) if quick else (False, True)):
                picture = np.ascontiguousarray(image[:, ::-1]) if flip else image
                renderer = PhotoRenderer(picture, size=(512, 512), threads=1)
                try:
                    for yaw in ((0.0,) if quick else YAWS):
                        head = (0.0, yaw, 0.0)
                        states = [FaceState(weights=np.zeros(52, np.float32), head=head)]
                        states += [FaceState(weights=blendshapes_from_aus(emotion_aus(Emotion.from_label("joy", k)))
                                             .astype(np.float32), head=head) for k in INTENSITIES]
                        frames = renderer.render(states)
                        for seen, camera in (list(CONDITIONS.items())[:1] if quick else CONDITIONS.items()):
                            readings: list[tuple[float, float] | None] = []
                            for frame in frames:
                                a = analyzer.analyze(np.ascontiguousarray(camera(frame)), 0.0)
                                readings.append(None if a.reading is None or a.user is None else
                                                (a.reading.vad[0], float(a.user.blendshapes[smile_idx].sum())))
                            neutral = readings[0]
                            if neutral is None:
                                continue
                            for k, r in zip(INTENSITIES, readings[1:]):
                                if r is not None:
                                    who = f"{name}{' mirrored' if flip else ''} yaw {yaw:+.2f} {seen} joy {k}"
                                    out.append((who, neutral, r))
                finally:
                    renderer.close()
    finally:
        analyzer.close()
    return out


def figures(quick: bool = False) -> tuple[list[Figure], list[str]]:
    found = pairs(quick)
    if not found:
        return [], ["smile vs neutral: no face found in any rendered pair"]
    right = [smile[0] > neutral[0] for _, neutral, smile in found]
    raw = [smile[1] > neutral[1] for _, neutral, smile in found]
    notes = [f"smile vs neutral: {len(found)} pairs rendered with the photo avatar on public-domain "
             f"portraits (scikit-image astronaut, matplotlib Grace Hopper)"]
    notes += [f"smile vs neutral MISRANKED: {who} (V {neutral[0]:+.3f} -> {smile[0]:+.3f})"
              for (who, neutral, smile), ok in zip(found, right) if not ok]
    return [Figure("smile vs neutral: pairs ranked right (face valence)", sum(right) / len(right)),
            Figure("smile vs neutral: pairs ranked right (smile blendshapes alone)", sum(raw) / len(raw)),
            Figure("smile vs neutral: pairs", float(len(found)))], notes
