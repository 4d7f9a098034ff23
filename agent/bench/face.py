"""Face analysis speed on the CPU, per 640×480 frame, for the perception bench suite.

Frames are built from real photographs that ship in installed packages (scikit-image's
astronaut, matplotlib's Grace Hopper), moved a few pixels per frame so tracking has work to
do. Landmarks (MediaPipe, tracking mode), the expression classifier and the whole analysis
(landmarks, active-face choice, affect, attention) are timed separately; a two-face frame shows
what a second person costs.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from agent.bench.report import Timing

SIZE = (640, 480)


def _portraits() -> list[np.ndarray]:
    import cv2
    import skimage.data

    faces = [(skimage.data.astronaut(), (180, 71, 270, 177))]
    try:
        import matplotlib.cbook

        path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        faces.append((cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), (170, 132, 355, 334)))
    except Exception:  # matplotlib comes with mediapipe; without it, one portrait is enough
        pass
    tiles = []
    for image, (x0, y0, x1, y1) in faces:
        side = int(max(x1 - x0, y1 - y0) * 1.8)
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        m = np.array([[1, 0, side / 2 - cx], [0, 1, side / 2 - cy]], np.float32)
        tiles.append(cv2.warpAffine(image, m, (side, side), borderMode=cv2.BORDER_REFLECT))
    return tiles


def frames(n: int, faces: int = 1, seed: int = 0) -> list[np.ndarray]:
    """``n`` 640×480 RGB frames with ``faces`` portraits drifting a little from frame to frame."""
    import cv2

    rng = np.random.default_rng(seed)
    tiles = _portraits()
    w, h = SIZE
    out = []
    for i in range(n):
        img = np.full((h, w, 3), (92, 96, 104), dtype=np.uint8)
        for k in range(faces):
            tile = tiles[k % len(tiles)]
            size = 260 if k == 0 else 200
            t = cv2.resize(tile, (size, size), interpolation=cv2.INTER_AREA)
            cx = (w // 2 if faces == 1 else (170 if k == 0 else 470)) + int(8 * np.sin(i / 5))
            cx += int(rng.integers(-2, 3))
            cy = h // 2 + int(rng.integers(-2, 3))
            x0, y0 = cx - size // 2, cy - size // 2  # always inside the 640×480 frame
            img[y0:y0 + size, x0:x0 + size] = t
        out.append(img)
    return out


def bench_face(opts: Any) -> list[Timing]:
    """Milliseconds per 640×480 frame: landmarks, classifier, the whole analysis (1 and 2 faces)."""
    from perception.face_affect import ExpressionClassifier, face_crop
    from perception.seeing import FaceAnalyzer

    quick = bool(getattr(opts, "quick", False))
    n = 8 if quick else 120
    warm = 2 if quick else 10
    timings: list[Timing] = []

    analyzer = FaceAnalyzer(video=True)
    try:
        one = frames(n + warm, 1, getattr(opts, "seed", 0))
        land, total, clf = [], [], []
        classifier: ExpressionClassifier = analyzer.affect.classifier
        for i, img in enumerate(one):
            t = i / 30.0
            s = time.perf_counter()
            faces = analyzer.landmarker.detect(img, t)
            land.append(time.perf_counter() - s)
            if faces:
                crop = face_crop(img, faces[0], ExpressionClassifier.size)
                s = time.perf_counter()
                classifier.probabilities(crop)
                clf.append(time.perf_counter() - s)
        analyzer.close()
        analyzer = FaceAnalyzer(video=True)
        for i, img in enumerate(one):
            s = time.perf_counter()
            analyzer.analyze(img, i / 30.0)
            total.append(time.perf_counter() - s)
        timings.append(Timing("face landmarks (ms/frame 640x480)", [x * 1e3 for x in land[warm:]]))
        timings.append(Timing("face classifier (ms/face)", [x * 1e3 for x in clf[warm:]]))
        timings.append(Timing("face total, 1 face (ms/frame 640x480)", [x * 1e3 for x in total[warm:]]))
        analyzer.close()

        analyzer = FaceAnalyzer(video=True)
        two = frames(n + warm, 2, getattr(opts, "seed", 0) + 1)
        total2 = []
        for i, img in enumerate(two):
            s = time.perf_counter()
            analyzer.analyze(img, i / 30.0)
            total2.append(time.perf_counter() - s)
        timings.append(Timing("face total, 2 faces (ms/frame 640x480)", [x * 1e3 for x in total2[warm:]]))
        analyzer.close()

        analyzer = FaceAnalyzer(video=False)  # every frame detected afresh, as for stills
        still = []
        for img in one[: max(warm + 4, n // 4)]:
            s = time.perf_counter()
            analyzer.analyze(img, 0.0)
            still.append(time.perf_counter() - s)
        timings.append(Timing("face total, no tracking (ms/frame 640x480)", [x * 1e3 for x in still[warm:]]))
    finally:
        analyzer.close()
    return timings
