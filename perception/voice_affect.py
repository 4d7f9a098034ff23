"""Voice affect from prosody (praat-parselmouth), judged against population norms that the
speaker's own baseline takes over as it forms.

What the voice tells (Juslin & Laukka 2003): arousal shows in pitch level and range, loudness
and speaking rate; valence only faintly (pitch variability, voice quality). Each feature is
turned into a z-score against a mean that starts at the population's norm — for pitch, the norm
of the speaker's own register, told by the floor of their pitch, which arousal moves least —
and moves to this speaker's running mean as their utterances come in (a Bayesian mean with the
norm as a prior of ``PRIOR_WEIGHT`` utterances). So the first utterance is read against the
population (before, it set the baseline and read as neutral: the agent's first reply never
heard the voice), and later a naturally loud or high voice is this speaker's baseline, not
anger. Arousal carries most of the weight while the confidence stays modest.

An optional speech-emotion classifier (``transformers`` audio-classification, by name or local
path, loaded offline and only when configured) adds its label scores, mapped onto the VAD
prototypes, combined with the prosody estimate by confidence.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from agent.core.affect import AffectEstimate, vad3
from agent.core.errors import MissingDependency, UserError
from perception.audio_source import SAMPLE_RATE

log = logging.getLogger(__name__)

FEATURES = ("f0", "f0_range", "loudness", "rate", "jitter", "shimmer", "hnr")
# Population norm of each feature, how much it varies for one speaker from one utterance to the
# next, and how much speakers' own means vary around the norm: (mean, sd, between). Pitch is in
# semitones re 100 Hz; its norm depends on the register (``REGISTERS``). Loudness is dBFS of the
# voiced frames at an ordinary microphone level, so its norm is the weakest and is given up
# soonest (``PRIOR_WEIGHT``). Adult speech norms after Titze (1994) and Baken & Orlikoff (2000);
# the spreads are design choices.
PRIORS: dict[str, tuple[float, float, float]] = {
    "f0": (7.0, 1.5, 2.5),  # the mean is replaced by the register's norm
    "f0_range": (6.0, 1.5, 2.0),  # semitones, 10th–90th percentile
    "loudness": (-24.0, 2.0, 6.0),
    "rate": (4.5, 0.8, 0.8),  # syllables per second
    "jitter": (0.015, 0.004, 0.005),
    "shimmer": (0.07, 0.03, 0.03),
    "hnr": (12.0, 2.0, 3.0),  # dB
}
# Median F0 norms (semitones re 100 Hz) of low and high voices: ~115 Hz and ~200 Hz, told apart
# by the speaker's pitch floor (10th percentile) below or above ~140 Hz (5.8 st).
REGISTERS = {"low": 2.4, "high": 12.0}
REGISTER_SPLIT = 5.8
# How many utterances' worth each norm counts for before the speaker has said anything; it
# counts less with every utterance heard (k / (1 + n)), so the speaker's own mean takes over.
PRIOR_WEIGHT: dict[str, float] = {"f0": 2.0, "f0_range": 2.0, "loudness": 1.0, "rate": 2.0,
                                  "jitter": 2.0, "shimmer": 2.0, "hnr": 2.0}
# Weights of each feature's z-score on each axis (design choice after Juslin & Laukka: pitch
# level and loudness are the most consistent arousal cues; the rate, estimated from words that
# an English recogniser may get wrong, counts less).
WEIGHTS: dict[str, tuple[float, float, float]] = {
    "f0": (0.05, 0.35, -0.15),
    "f0_range": (0.15, 0.15, -0.05),
    "loudness": (0.00, 0.40, 0.35),
    "rate": (0.05, 0.15, 0.10),
    "jitter": (-0.10, 0.00, -0.05),
    "shimmer": (-0.10, 0.00, -0.05),
    "hnr": (0.10, -0.05, 0.05),
}
AXIS_GAIN = (0.4, 0.7, 0.5)  # valence is the least readable from the voice


@dataclass(frozen=True, slots=True)
class Prosody:
    f0: float
    f0_range: float
    f0_floor: float  # 10th percentile, semitones re 100 Hz: the register, moved least by arousal
    loudness: float
    rate: float
    jitter: float
    shimmer: float
    hnr: float
    voiced_s: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def prosody(audio: np.ndarray, words: tuple[Any, ...] = ()) -> Prosody | None:
    """Prosodic features of one utterance (16 kHz mono); None when it holds too little voice."""
    try:
        import parselmouth
        from parselmouth.praat import call
    except ImportError:
        raise MissingDependency("praat-parselmouth (voice affect)", "pip install praat-parselmouth") from None
    audio = np.asarray(audio, dtype=np.float64)
    if len(audio) < SAMPLE_RATE // 5 or not np.any(audio):
        return None
    snd = parselmouth.Sound(audio, sampling_frequency=SAMPLE_RATE)
    pitch = snd.to_pitch(time_step=0.01, pitch_floor=75.0, pitch_ceiling=500.0)
    f0 = pitch.selected_array["frequency"]
    voiced = f0 > 0
    if voiced.sum() < 8:
        return None
    st = 12.0 * np.log2(f0[voiced] / 100.0)
    times = pitch.xs()
    idx = np.clip((times * SAMPLE_RATE).astype(int), 0, len(audio) - 1)
    win = int(0.02 * SAMPLE_RATE)
    rms = np.array([np.sqrt(np.mean(audio[max(0, i - win):i + win] ** 2)) for i in idx[voiced]])
    loud = float(20 * np.log10(np.sqrt(np.mean(rms ** 2)) + 1e-9))
    point = call(snd, "To PointProcess (periodic, cc)", 75.0, 500.0)
    jitter = _praat(call, point, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3)
    shimmer = _praat(call, [snd, point], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6)
    hnr = _praat(call, snd.to_harmonicity_cc(0.01, 75.0, 0.1, 1.0), "Get mean", 0, 0)
    return Prosody(f0=float(np.median(st)), f0_range=float(np.percentile(st, 90) - np.percentile(st, 10)),
                   f0_floor=float(np.percentile(st, 10)),
                   loudness=loud, rate=_rate(audio, words, snd), jitter=jitter or 0.015,
                   shimmer=shimmer or 0.07, hnr=hnr if hnr is not None else 12.0,
                   voiced_s=float(voiced.sum() * 0.01))


def _praat(call: Any, obj: Any, *args: Any) -> float | None:
    try:
        v = float(call(obj, *args))
    except Exception:  # praat refuses on too few periods
        return None
    return None if math.isnan(v) else v


_VOWELS = re.compile(r"[aeiouy]+")


def _rate(audio: np.ndarray, words: tuple[Any, ...], snd: Any) -> float:
    """Syllables per second of speaking time: from the ASR words when there are any (vowel
    groups over the span they cover), else from peaks of the intensity contour."""
    if len(words) >= 2:
        syll = sum(max(1, len(_VOWELS.findall(w.text.lower().rstrip("e") or w.text.lower()))) for w in words)
        span = words[-1].end - words[0].start
        if span > 0.2:
            return syll / span
    inten = snd.to_intensity(minimum_pitch=75.0, time_step=0.01).values[0]
    if len(inten) < 5:
        return 4.0
    thr = np.median(inten) + 2.0
    peaks = [i for i in range(1, len(inten) - 1)
             if inten[i] > thr and inten[i] >= inten[i - 1] and inten[i] > inten[i + 1]]
    kept: list[int] = []
    for p in peaks:  # a syllable nucleus needs a 2 dB dip from the previous one
        if not kept or inten[kept[-1]:p + 1].min() < min(inten[kept[-1]], inten[p]) - 2.0:
            kept.append(p)
    speaking = max(0.2, float((inten > np.median(inten) - 10).sum()) * 0.01)
    return len(kept) / speaking


class SpeakerBaseline:
    """Each feature's mean for one speaker: the population norm counted as ``PRIOR_WEIGHT``
    utterances, then this speaker's utterances (exponential forgetting once ``forget_after``
    are in, so a speaker who warms up over a conversation is followed slowly)."""

    def __init__(self, forget_after: float = 20.0) -> None:
        self.forget_after = forget_after
        self.sums: dict[str, float] = {}
        self.n = 0.0
        self.floor = 0.0  # sum of pitch floors seen
        self.utterances = 0

    def register(self, p: Prosody | None = None) -> str:
        """``low`` or ``high``: from the pitch floors heard so far (and ``p``'s)."""
        floors, n = self.floor + (p.f0_floor if p else 0.0), self.n + (1.0 if p else 0.0)
        return "low" if n > 0 and floors / n < REGISTER_SPLIT else "high" if n > 0 else "low"

    def mean(self, key: str, p: Prosody | None = None) -> tuple[float, float]:
        """The feature's mean for this speaker and how uncertain it is (sd of a z-score)."""
        norm, sd, between = PRIORS[key]
        if key == "f0":
            norm = REGISTERS[self.register(p)]
        k = PRIOR_WEIGHT[key] / (1.0 + self.n)
        share = k / (k + self.n)  # of the norm in the mean
        return (k * norm + self.sums.get(key, 0.0)) / (k + self.n), math.sqrt(sd * sd + between * between * share)

    def z(self, p: Prosody) -> dict[str, float]:
        out = {}
        for key in FEATURES:
            mean, spread = self.mean(key, p)
            out[key] = float(np.clip((getattr(p, key) - mean) / spread, -3.0, 3.0))
        return out

    def update(self, p: Prosody) -> None:
        self.utterances += 1
        keep = 1.0 - 1.0 / self.forget_after if self.n + 1.0 > self.forget_after else 1.0
        self.n = self.n * keep + 1.0
        self.floor = self.floor * keep + p.f0_floor
        for k in FEATURES:
            self.sums[k] = self.sums.get(k, 0.0) * keep + getattr(p, k)


class VoiceAffect:
    """Prosody → VAD against the speaker's baseline, optionally combined with a classifier."""

    def __init__(self, classifier: str | None = None) -> None:
        self.baseline = SpeakerBaseline()
        self.classifier = SerClassifier(classifier) if classifier else None

    def estimate(self, audio: np.ndarray, t: float, words: tuple[Any, ...] = ()) -> AffectEstimate:
        p = prosody(audio, words)
        if p is None:
            return AffectEstimate("voice", (0.0, 0.0, 0.0), 0.0, t, "", "", {"voiced_s": 0.0})
        z = self.baseline.z(p)
        raw = [sum(WEIGHTS[k][axis] * z[k] for k in FEATURES) for axis in range(3)]
        vad = vad3(math.tanh(g * r) for g, r in zip(AXIS_GAIN, raw))
        maturity = 0.4 + 0.6 * min(1.0, self.baseline.utterances / 3.0)
        confidence = 0.6 * min(1.0, p.voiced_s / 1.0) * maturity
        self.baseline.update(p)
        details: dict[str, Any] = {"prosody": p.as_dict(), "z": z, "baseline_utterances": self.baseline.utterances}
        est = AffectEstimate("voice", vad, round(confidence, 3), t, _label(vad), describe(z, vad[1]), details)
        if self.classifier is not None:
            est = combine(est, self.classifier.estimate(audio, t))
        return est


def describe(z: dict[str, float], arousal: float) -> str:
    """The voice in words for the prompt: "speaks fast and loud", "voice calm, slow"."""
    terms = [word for key, hi, lo in (("rate", "fast", "slow"), ("loudness", "loud", "soft"),
                                      ("f0", "high-pitched", "low-pitched"),
                                      ("f0_range", "animated", "monotone"))
             for word in ((hi,) if z[key] > 0.8 else (lo,) if z[key] < -0.8 else ())]
    if arousal < -0.15:
        return "voice calm" + (", " + ", ".join(terms) if terms else "")
    if not terms:
        return "voice even"
    return "speaks " + (" and ".join(terms) if len(terms) <= 2 else ", ".join(terms[:-1]) + " and " + terms[-1])


def _label(vad: tuple[float, float, float]) -> str:
    from persona.emotion import nearest_label

    return nearest_label(vad) if max(abs(x) for x in vad) > 0.15 else "neutral"


# ---------------------------------------------------------------- optional classifier

_LABEL_ALIASES = {"ang": "anger", "hap": "joy", "joy": "joy", "exc": "joy", "neu": "neutral",
                  "sad": "sadness", "fea": "fear", "dis": "disgust", "sur": "surprise"}
_EXTRA_VAD = {"cal": (0.2, -0.4, 0.1)}  # "calm" in RAVDESS-style label sets


class SerClassifier:
    """A speech-emotion model through transformers' audio-classification pipeline, offline."""

    def __init__(self, model: str) -> None:
        try:
            from transformers import pipeline
        except ImportError:
            raise MissingDependency("transformers (speech-emotion classifier)", "pip install transformers") from None
        try:
            self.pipe = pipeline("audio-classification", model=model, model_kwargs={"local_files_only": True})
        except Exception as e:
            raise UserError(f"speech-emotion model {model!r} could not be loaded offline "
                            f"({e.__class__.__name__}); give a local directory or a model already "
                            "in the Hugging Face cache") from None
        self.name = model

    def estimate(self, audio: np.ndarray, t: float) -> AffectEstimate:
        from persona.emotion import PROTOTYPES

        scores = self.pipe({"raw": np.asarray(audio, np.float32), "sampling_rate": SAMPLE_RATE}, top_k=None)
        acc, total = np.zeros(3), 0.0
        for s in scores:
            key = str(s["label"]).lower()[:3]
            vad = PROTOTYPES.get(_LABEL_ALIASES.get(key, ""), _EXTRA_VAD.get(key))
            if vad is not None:
                acc += float(s["score"]) * np.asarray(vad)
                total += float(s["score"])
        if total <= 0:
            return AffectEstimate("voice", (0.0, 0.0, 0.0), 0.0, t)
        vad = vad3(acc / total)
        top = max(scores, key=lambda s: s["score"])
        return AffectEstimate("voice", vad, float(top["score"]) * min(1.0, total), t,
                              _label(vad), "", {"classifier": {s["label"]: s["score"] for s in scores}})


def combine(prosodic: AffectEstimate, classified: AffectEstimate) -> AffectEstimate:
    """Confidence-weighted mean; the confidence is that of the more certain, nudged up when
    both agree on arousal's sign."""
    w1, w2 = prosodic.confidence, classified.confidence
    if w1 + w2 <= 0:
        return prosodic
    vad = vad3((w1 * a + w2 * b) / (w1 + w2) for a, b in zip(prosodic.vad, classified.vad))
    agree = np.sign(prosodic.vad[1]) == np.sign(classified.vad[1])
    conf = min(0.95, max(w1, w2) * (1.15 if agree else 0.9))
    details = {**prosodic.details, **classified.details}
    return AffectEstimate("voice", vad, round(conf, 3), prosodic.t, _label(vad), prosodic.cues, details)
