"""Does the face show what the agent feels? Each basic emotion is rendered at two intensities on
every built-in avatar and on photo avatars, as a call shows it (the persona's animator, idle
motion and all, 512×512), and read back with the project's own face reader (MediaPipe
FaceLandmarker blendshapes → action units, and the ``fer`` classifier's label).

An emotion *shows* when most of the action units of one of its EMFACS prototypes that the
reader measures rise above the same avatar's neutral render (all of them when there are one or
two; fear, with seven, needs four), and, for the negative emotions, the face does not smile.
``0.5 reads weaker than 1.0`` compares the summed rise of those AUs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

EMOTIONS = ("joy", "sadness", "anger", "surprise", "fear", "disgust")
INTENSITIES = (0.5, 1.0)
NEGATIVE = ("sadness", "anger", "fear", "disgust")

# EMFACS (REFERENCE.md) as the reader's AUs. Two AUs the reader cannot see are left out:
# AU6 (cheek raiser): MediaPipe's cheekSquint reads 0.00 on real smiling portraits too
# (scikit-image's astronaut); AU9 (nose wrinkler): its blendshape model reads 146 landmarks,
# none on the nose wings, and a search over smooth landmark motions (up to 0.16 eye distances)
# never raised noseSneer above 0.03. Disgust is read by EMFACS's other prototype, AU10 (upper
# lip raiser) with 15+16. Surprise's AU5 is "5B": a slight raise.
# Anger has several closed-mouth prototypes in EMFACS (Ekman, Friesen & Hager 2002, FACS
# Investigator's Guide, table 10-1: 4+5+7+23, 4+5+7+24, 4+5+7+17+23, 4+5+7+17+24); each is
# tried. The chin raiser matters to this reader: a lowered brow reads as a lowered upper lid
# (AU5 falls whenever AU4 rises, on drawn and photo faces alike: the landmark model moves the
# lid's landmarks down with the brow), so 4+5+7+23 shows only when 4, 7 and 23 all read.
EMFACS_READ: dict[str, tuple[tuple[str, ...], ...]] = {
    "joy": (("AU12",),),
    "sadness": (("AU1", "AU4", "AU15"),),
    "surprise": (("AU1", "AU2", "AU5", "AU26"),),
    "fear": (("AU1", "AU2", "AU4", "AU5", "AU7", "AU20", "AU26"),),
    "anger": (("AU4", "AU5", "AU7", "AU23"), ("AU4", "AU5", "AU7", "AU24"),
              ("AU4", "AU5", "AU7", "AU17", "AU23"), ("AU4", "AU5", "AU7", "AU17", "AU24")),
    "disgust": (("AU10", "AU15", "AU16"),),
}
RISE = 0.05  # an AU "rises" when it reads at least this much above the neutral render
MEAN_RISE = 0.10  # and the emotion's AUs together rise at least this much on average
SMILE = 0.25  # AU12 at or above this is a smile (the face reader's "smiles slightly")
SETTLE_S = 1.5  # the expression has eased in by then at any arousal


def _proto_shows(rise: list[float]) -> bool:
    return sum(r >= RISE for r in rise) > len(rise) / 2 and float(np.mean(rise)) >= MEAN_RISE


@dataclass
class Reading:
    emotion: str
    intensity: float
    aus: dict[str, float]
    label: str  # the face reader's label (classifier and AU evidence fused)

    def rise(self, neutral: Reading) -> dict[str, float]:
        """Each AU of the emotion's prototypes: how far it reads above ``neutral``."""
        aus = dict.fromkeys(au for proto in EMFACS_READ[self.emotion] for au in proto)
        return {au: self.aus.get(au, 0.0) - neutral.aus.get(au, 0.0) for au in aus}

    def shows(self, neutral: Reading) -> bool:
        """Most AUs of one of the emotion's prototypes rise (all of them for one or two), by
        ``MEAN_RISE`` on average, and a negative emotion does not smile."""
        rises = self.rise(neutral)
        smiles = self.emotion in NEGATIVE and self.aus.get("AU12", 0.0) >= SMILE
        return not smiles and any(_proto_shows([rises[au] for au in proto]) for proto in EMFACS_READ[self.emotion])

    def strength(self, neutral: Reading) -> float:
        return float(sum(max(0.0, r) for r in self.rise(neutral).values()))


@dataclass
class AvatarReadback:
    name: str
    neutral: Reading
    readings: dict[tuple[str, float], Reading] = field(default_factory=dict)
    missed: list[str] = field(default_factory=list)  # frames the reader found no face in
    note: str = ""  # a photo avatar's take-back of the portrait's own expression

    def shown(self, intensity: float) -> list[str]:
        return [e for e in EMOTIONS if (r := self.readings.get((e, intensity))) and r.shows(self.neutral)]

    def graded(self) -> list[str]:
        """Emotions whose 0.5 reads weaker than their 1.0."""
        out = []
        for e in EMOTIONS:
            lo, hi = self.readings.get((e, 0.5)), self.readings.get((e, 1.0))
            if lo and hi and lo.strength(self.neutral) < hi.strength(self.neutral):
                out.append(e)
        return out

    def row(self, intensity: float) -> str:
        """One line per avatar: each emotion's verdict with its AUs' rise."""
        parts = []
        for e in EMOTIONS:
            r = self.readings.get((e, intensity))
            if r is None:
                parts.append(f"{e} no face")
                continue
            rise = " ".join(f"{au}{v:+.2f}" for au, v in r.rise(self.neutral).items())
            smile = f" AU12 {r.aus.get('AU12', 0.0):.2f}" if e in NEGATIVE else ""
            parts.append(f"{e} {'yes' if r.shows(self.neutral) else 'NO'} ({rise}{smile}; reads {r.label})")
        return "; ".join(parts)


def frame_at_rest(animator: Any, t0: float) -> Any:
    """The first frame from ``t0`` with the eyes open (a blink would hide the lids' AUs)."""
    from agent.core.face_state import INDEX

    blink = (INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"])
    t = t0
    for _ in range(120):
        state = animator.frame(t)
        if max(float(state.weights[i]) for i in blink) < 0.05:
            return state
        t += 1.0 / animator.fps
    return state


def call_frames(persona: Any, seed: int = 0) -> list[tuple[str, float, Any]]:
    """(emotion, intensity, FaceState) as a call shows them: the persona's animator holding
    each emotion (neutral first) with its idle motion, after it has eased in."""
    from persona.emotion import Emotion
    from render.animator import Animator

    out = []
    wanted = [("neutral", 0.0)] + [(e, i) for e in EMOTIONS for i in INTENSITIES]
    for emotion, intensity in wanted:
        animator = Animator(persona, fps=30, seed=seed)
        target = Emotion.neutral() if emotion == "neutral" else Emotion.from_label(emotion, intensity)
        animator.set_emotion(target, 0.0)
        out.append((emotion, intensity, frame_at_rest(animator, SETTLE_S)))
    return out


def read_avatar(name: str, renderer: Any, persona: Any, analyzer: Any, seed: int = 0,
                keep: dict[str, np.ndarray] | None = None) -> AvatarReadback:
    """Render every emotion on ``renderer`` and read each frame back with ``analyzer``
    (a ``perception.seeing.FaceAnalyzer`` on stills). ``keep`` collects the frames by label."""
    items = call_frames(persona, seed)
    frames = renderer.render([s for _, _, s in items])
    neutral: Reading | None = None
    result = AvatarReadback(name, Reading("neutral", 0.0, {}, ""))
    for (emotion, intensity, _), frame in zip(items, frames):
        if keep is not None:
            keep[f"{name} {emotion} {intensity:.1f}"] = frame
        analysis = analyzer.analyze(frame, 0.0)
        if analysis.reading is None:
            result.missed.append(f"{emotion} {intensity:.1f}")
            continue
        reading = Reading(emotion, intensity, dict(analysis.reading.aus), analysis.reading.label)
        if emotion == "neutral":
            neutral = reading
        else:
            result.readings[(emotion, intensity)] = reading
    if neutral is None:
        result.missed.insert(0, "neutral (nothing to compare with)")
        result.readings.clear()
    else:
        result.neutral = neutral
    return result


# ---------------------------------------------------------------------- the suite's part


def avatars(config: str | None = None) -> list[tuple[str, Any, Any]]:
    """(name, persona, avatar block) for each built-in style, worn by the first shipped persona
    with that style (its expressivity and accessory), and the photo avatars."""
    from persona.config import load_personas
    from render.avatar.styles import STYLES

    personas = load_personas(config)
    base = personas.get("tutor") or next(iter(personas.values()))
    out = []
    for style in STYLES:
        wearer = next((p for p in personas.values() if p.avatar.style == style and not p.avatar.photo), None)
        persona = wearer or base.model_copy(update={"avatar": base.avatar.model_copy(update={"style": style})})
        out.append((style, persona, persona.avatar))
    return out


def photo_portraits() -> list[tuple[str, np.ndarray]]:
    """Real portraits shipped in installed packages: scikit-image's astronaut (Eileen Collins,
    NASA, public domain; she smiles broadly) and matplotlib's Grace Hopper (public domain)."""
    import skimage.data

    out = [("photo astronaut", np.ascontiguousarray(skimage.data.astronaut()))]
    try:
        import cv2
        import matplotlib.cbook

        path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        out.append(("photo hopper", cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)))
    except Exception:  # matplotlib comes with mediapipe; one portrait is enough without it
        pass
    return out


def readback_all(config: str | None = None, seed: int = 0, size: tuple[int, int] = (512, 512),
                 quick: bool = False) -> list[AvatarReadback]:
    from perception.seeing import FaceAnalyzer
    from render.photo import PhotoRenderer
    from render.renderer import make_renderer

    analyzer = FaceAnalyzer(video=False)
    results = []
    try:
        drawn = avatars(config)
        tutor = drawn[0][1]
        for name, persona, avatar in drawn[:2] if quick else drawn:
            renderer = make_renderer(avatar, size=size, device="cpu")
            try:
                results.append(read_avatar(name, renderer, persona, analyzer, seed))
            finally:
                getattr(renderer, "close", lambda: None)()
        for name, image in photo_portraits()[:1] if quick else photo_portraits():
            photo = PhotoRenderer(image, size=size, device="cpu", landmarker=analyzer.landmarker)
            try:
                results.append(read_avatar(name, photo, tutor, analyzer, seed))
                if photo.neutral is not None:
                    results[-1].note = photo.neutral.describe()
            finally:
                photo.close()
    finally:
        analyzer.close()
    return results


def add_to(suite: Any, results: list[AvatarReadback]) -> None:
    """Figures per avatar (emotions shown at each intensity, graded pairs) and one note per
    avatar and intensity with every emotion's AU rise."""
    from agent.bench.report import Figure

    for r in results:
        for intensity in INTENSITIES:
            suite.figures.append(Figure(f"readback {r.name}: emotions shown at {intensity:.1f} (of 6)",
                                        len(r.shown(intensity))))
        suite.figures.append(Figure(f"readback {r.name}: 0.5 weaker than 1.0 (of 6)", len(r.graded())))
        for intensity in INTENSITIES:
            suite.notes.append(f"readback {r.name} at {intensity:.1f}: {r.row(intensity)}")
        if r.note:
            suite.notes.append(f"readback {r.name}: {r.note}")
        if r.missed:
            suite.notes.append(f"readback {r.name}: no face read in {', '.join(r.missed)}")
    short = [r.name for r in results if len(r.shown(1.0)) < len(EMOTIONS)]
    if short:
        suite.notes.append(f"readback goal (every emotion on every avatar at 1.0) not met on {', '.join(short)}")
