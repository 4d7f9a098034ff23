"""Phoneme timings → visemes → mouth blendshapes with coarticulation; audio-driven fallback.

IPA (as espeak-ng and Piper emit it) maps to ARPAbet-like classes and then to Meta's 15
visemes (../shared/REFERENCE.md); a diphthong glides between two visemes. Neighbouring
phonemes blend after Cohen & Massaro's (1993) dominance model: each segment fully dominates
its own middle and its pull decays over a fixed reach beyond it, visible articulations (lips,
teeth on lip) outweighing hidden ones (tongue). Shapes lead their phonemes by
``ANTICIPATION`` (the jaw moves before the sound it shapes; 25 ms centres the lip opening on
the audio envelope of Piper speech). Bilabials p/b/m close the lips completely over their own
segment, unshifted: that is where the audio is silent before the burst.

A whole chunk is known before it plays, so its mouth track is computed once when it is
scheduled, at ``RATE`` samples per second, and a frame only interpolates: cheap and exact.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass

import numpy as np

from agent.core.face_state import BLENDSHAPES, INDEX, weights_from
from agent.core.speech import PhonemeTiming, SpeechChunk
from render.idle import smoothstep

log = logging.getLogger(__name__)

RATE = 200.0  # mouth-track samples per second (5 ms: well inside the ±20 ms sync budget)
SILENCE = "_"

VISEMES: tuple[str, ...] = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR",
                            "aa", "E", "ih", "oh", "ou")
VISEME_INDEX = {v: i for i, v in enumerate(VISEMES)}

# IPA → ARPAbet-like class. Classes follow REFERENCE.md's viseme table; other languages'
# sounds join the class they look like (Spanish β between the lips, x at the velum, ...).
IPA_TO_ARPABET: dict[str, str] = {
    "p": "P", "b": "B", "m": "M", "β": "B", "ɸ": "F",
    "f": "F", "v": "V", "ɱ": "M_LABIODENTAL",
    "θ": "TH", "ð": "DH",
    "t": "T", "d": "D", "ɾ": "DX", "ʈ": "T", "ɖ": "D",
    "k": "K", "g": "G", "ɡ": "G", "ŋ": "NG", "x": "K", "ɣ": "G", "q": "K", "ɢ": "G", "χ": "K",
    "tʃ": "CH", "dʒ": "JH", "ʃ": "SH", "ʒ": "ZH", "ɕ": "SH", "ʑ": "ZH", "ç": "SH", "c": "CH",
    "ɟ": "JH", "ʂ": "SH", "ʐ": "ZH",
    "s": "S", "z": "Z", "ts": "S", "dz": "Z",
    "n": "N", "l": "L", "ɫ": "L", "ɲ": "N", "ʎ": "L", "ɳ": "N", "ɭ": "L",
    "ɹ": "R", "r": "R", "ɻ": "R", "ʁ": "R", "ʀ": "R", "ɚ": "ER", "ɝ": "ER", "ɜ": "ER",
    "a": "AA", "ɑ": "AA", "æ": "AE", "ʌ": "AH", "ɐ": "AH", "ə": "AH", "ɒ": "AO", "ɶ": "AA",
    "ɛ": "EH", "e": "EY", "œ": "AO", "ø": "OW",
    "ɪ": "IH", "i": "IY", "ᵻ": "IH", "ɨ": "IH", "j": "Y", "y": "UW", "ʏ": "UH", "ɥ": "W",
    "ɔ": "AO", "o": "OW", "ɤ": "AO",
    "ʊ": "UH", "u": "UW", "ɯ": "UW", "w": "W", "ʉ": "UW",
    "h": "HH", "ɦ": "HH", "ʔ": "HH",
}
ARPABET_TO_VISEME: dict[str, str] = {
    "P": "PP", "B": "PP", "M": "PP",
    "F": "FF", "V": "FF", "M_LABIODENTAL": "FF",
    "TH": "TH", "DH": "TH",
    "T": "DD", "D": "DD", "DX": "DD",
    "K": "kk", "G": "kk", "NG": "kk",
    "CH": "CH", "JH": "CH", "SH": "CH", "ZH": "CH",
    "S": "SS", "Z": "SS",
    "N": "nn", "L": "nn",
    "R": "RR", "ER": "RR",
    "AA": "aa", "AE": "aa", "AH": "aa", "AY": "aa", "AW": "aa",
    "EH": "E", "EY": "E",
    "IH": "ih", "IY": "ih", "Y": "ih",
    "AO": "oh", "OW": "oh", "OY": "oh",
    "UH": "ou", "UW": "ou", "W": "ou",
}
BILABIALS = frozenset({"p", "b", "m"})  # full closure; β only narrows the lips
_REDUCED = frozenset({"ə", "ɐ", "ᵻ", "ɚ", "ɨ"})  # unstressed vowels articulate less
_VOWEL_VISEMES = frozenset({"aa", "E", "ih", "oh", "ou", "RR"})
_STRIP = frozenset("ːˑʰʲʷˠˤ")

# Mouth shapes per viseme (design choice after common Oculus → ARKit retargets; mouthClose
# only has meaning with jawOpen: the two together seal the lips over an open jaw).
VISEME_POSES: dict[str, dict[str, float]] = {
    "sil": {},
    "PP": {"jawOpen": 0.04, "mouthClose": 0.04, "mouthPressLeft": 0.45, "mouthPressRight": 0.45,
           "mouthRollLower": 0.15, "mouthRollUpper": 0.1},
    "FF": {"jawOpen": 0.1, "mouthRollLower": 0.5, "mouthUpperUpLeft": 0.25,
           "mouthUpperUpRight": 0.25, "mouthClose": 0.04},
    "TH": {"jawOpen": 0.14, "tongueOut": 0.25, "mouthUpperUpLeft": 0.1, "mouthUpperUpRight": 0.1,
           "mouthLowerDownLeft": 0.1, "mouthLowerDownRight": 0.1},
    "DD": {"jawOpen": 0.18, "mouthUpperUpLeft": 0.1, "mouthUpperUpRight": 0.1,
           "mouthLowerDownLeft": 0.1, "mouthLowerDownRight": 0.1,
           "mouthStretchLeft": 0.1, "mouthStretchRight": 0.1},
    "kk": {"jawOpen": 0.22, "mouthStretchLeft": 0.15, "mouthStretchRight": 0.15,
           "mouthLowerDownLeft": 0.1, "mouthLowerDownRight": 0.1},
    "CH": {"jawOpen": 0.14, "mouthFunnel": 0.45, "mouthPucker": 0.3,
           "mouthUpperUpLeft": 0.25, "mouthUpperUpRight": 0.25,
           "mouthLowerDownLeft": 0.25, "mouthLowerDownRight": 0.25},
    "SS": {"jawOpen": 0.07, "mouthStretchLeft": 0.3, "mouthStretchRight": 0.3,
           "mouthSmileLeft": 0.12, "mouthSmileRight": 0.12, "mouthUpperUpLeft": 0.15,
           "mouthUpperUpRight": 0.15, "mouthLowerDownLeft": 0.2, "mouthLowerDownRight": 0.2},
    "nn": {"jawOpen": 0.16, "mouthUpperUpLeft": 0.05, "mouthUpperUpRight": 0.05,
           "mouthLowerDownLeft": 0.1, "mouthLowerDownRight": 0.1},
    "RR": {"jawOpen": 0.18, "mouthPucker": 0.35, "mouthFunnel": 0.2},
    "aa": {"jawOpen": 0.6, "mouthLowerDownLeft": 0.3, "mouthLowerDownRight": 0.3,
           "mouthUpperUpLeft": 0.1, "mouthUpperUpRight": 0.1},
    "E": {"jawOpen": 0.38, "mouthStretchLeft": 0.3, "mouthStretchRight": 0.3,
          "mouthLowerDownLeft": 0.25, "mouthLowerDownRight": 0.25,
          "mouthUpperUpLeft": 0.1, "mouthUpperUpRight": 0.1},
    "ih": {"jawOpen": 0.22, "mouthStretchLeft": 0.35, "mouthStretchRight": 0.35,
           "mouthSmileLeft": 0.12, "mouthSmileRight": 0.12, "mouthLowerDownLeft": 0.2,
           "mouthLowerDownRight": 0.2, "mouthUpperUpLeft": 0.1, "mouthUpperUpRight": 0.1},
    "oh": {"jawOpen": 0.45, "mouthFunnel": 0.55, "mouthPucker": 0.25},
    "ou": {"jawOpen": 0.2, "mouthPucker": 0.7, "mouthFunnel": 0.35},
}
POSES = np.stack([weights_from(VISEME_POSES[v]) for v in VISEMES])  # (15, 52)
# how strongly each viseme holds its shape against its neighbours (Cohen & Massaro's alpha)
DOMINANCE: dict[str, float] = {"sil": 0.8, "PP": 1.3, "FF": 1.2, "TH": 0.7, "DD": 0.5,
                               "kk": 0.45, "CH": 0.9, "SS": 0.7, "nn": 0.5, "RR": 0.8,
                               "aa": 1.0, "E": 1.0, "ih": 1.0, "oh": 1.1, "ou": 1.1}
ANTICIPATION = 0.025  # seconds the mouth shape leads its phoneme (the jaw moves before the sound)
PLATEAU = 0.7  # share of a segment over which it fully dominates
REACH_VOWEL, REACH_CONSONANT = 0.045, 0.03  # seconds a segment's pull reaches past its plateau
CLOSURE_RAMP = 0.04  # seconds the lips take to meet before a bilabial and to part after it

# shapes the mouth articulates with; the expression keeps only part of them while speaking
_ARTICULATORS = np.array([n.startswith(("jaw", "mouthClose", "mouthFunnel", "mouthPucker",
                                        "mouthLowerDown", "mouthUpperUp", "mouthRoll",
                                        "mouthPress", "mouthStretch", "tongue"))
                          for n in BLENDSHAPES])
_I = {n: INDEX[n] for n in BLENDSHAPES}
_SMILE = [_I[n] for n in ("mouthSmileLeft", "mouthSmileRight", "mouthDimpleLeft",
                          "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight")]
_OPENERS = [_I[n] for n in ("mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
                            "mouthUpperUpRight", "mouthFunnel", "tongueOut")]
_PRESS = [_I["mouthPressLeft"], _I["mouthPressRight"]]
_JAW, _CLOSE = _I["jawOpen"], _I["mouthClose"]
_PUCKER, _FUNNEL = _I["mouthPucker"], _I["mouthFunnel"]


def _base(ipa: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", ipa)
                   if c not in _STRIP and not unicodedata.combining(c))


def _units(ipa: str) -> list[str]:
    """The sounds inside one phoneme symbol: ``aɪ`` → a, ɪ; ``tʃ`` stays one; ``əl`` → ə, l."""
    base = _base(ipa)
    out: list[str] = []
    i = 0
    while i < len(base):
        if base[i:i + 2] in IPA_TO_ARPABET:
            out.append(base[i:i + 2])
            i += 2
        else:
            out.append(base[i])
            i += 1
    return out


def viseme_of(ipa: str) -> str | None:
    """The viseme a phoneme starts with; None for sounds that take their neighbour's (h, ʔ)."""
    if ipa == SILENCE:
        return "sil"
    units = _units(ipa)
    cls = IPA_TO_ARPABET.get(units[0]) if units else None
    if cls is None:
        log.debug("no viseme for phoneme %r; it takes its neighbours' shape", ipa)
        return None
    return ARPABET_TO_VISEME.get(cls)  # HH → None


def is_bilabial(ipa: str) -> bool:
    return _base(ipa)[:1] in BILABIALS


@dataclass(frozen=True, slots=True)
class _Part:
    viseme: str | None
    start: float
    end: float
    amp: float
    bilabial: bool


def _parts(phonemes: tuple[PhonemeTiming, ...]) -> list[_Part]:
    """One part per sound: a diphthong glides (60% on its first vowel), a syllabic
    consonant follows its vowel, unknown symbols and h/ʔ take their neighbours' shape."""
    parts: list[_Part] = []
    for p in phonemes:
        if p.phoneme == SILENCE:
            parts.append(_Part("sil", p.start, p.end, 1.0, False))
            continue
        units = [u for u in _units(p.phoneme) if u in IPA_TO_ARPABET] or [p.phoneme]
        cuts = [p.start] + ([p.start + 0.6 * (p.end - p.start)] if len(units) == 2 else
                            [p.start + (p.end - p.start) * k / len(units)
                             for k in range(1, len(units))]) + [p.end]
        for k, u in enumerate(units):
            cls = IPA_TO_ARPABET.get(u)
            vis = ARPABET_TO_VISEME.get(cls) if cls else None
            amp = 1.0
            if vis in _VOWEL_VISEMES and not p.stress:
                amp = 0.7 if u in _REDUCED else 0.85
            parts.append(_Part(vis, cuts[k], cuts[k + 1], amp, u in BILABIALS))
    for i, part in enumerate(parts):  # h and ʔ take the next vowel's shape, else the previous one
        if part.viseme is None:
            ahead = [q.viseme for q in parts[i + 1:i + 3] if q.viseme in _VOWEL_VISEMES]
            behind = [q.viseme for q in parts[max(0, i - 2):i] if q.viseme is not None]
            vis = ahead[0] if ahead else (behind[-1] if behind else "sil")
            parts[i] = _Part(vis, part.start, part.end, 0.8, False)
    return parts


@dataclass(frozen=True, slots=True)
class MouthTrack:
    """Mouth shapes of one chunk on the audio clock, sampled at ``RATE`` from ``start``."""

    start: float
    end: float
    poses: np.ndarray  # (n, 52) float32
    closure: np.ndarray  # (n,) 0..1: how fully the lips are sealed

    def at(self, t: float) -> tuple[np.ndarray, float]:
        x = (t - self.start) * RATE
        n = len(self.closure)
        if x <= 0.0:
            return self.poses[0], float(self.closure[0])
        if x >= n - 1:
            return self.poses[-1], float(self.closure[-1])
        i = int(x)
        f = x - i
        pose = self.poses[i] + (self.poses[i + 1] - self.poses[i]) * np.float32(f)
        return pose, float(self.closure[i] + (self.closure[i + 1] - self.closure[i]) * f)


def _grid(start: float, duration: float) -> np.ndarray:
    return start + np.arange(int(np.ceil(duration * RATE)) + 1) / RATE


def phoneme_track(chunk: SpeechChunk, start: float, fps: float = 30.0) -> MouthTrack:
    """Coarticulated mouth shapes from the chunk's phoneme timings.

    A bilabial shorter than one frame is widened to a frame around its centre, so every
    bilabial closes the lips on at least one rendered frame.
    """
    parts = _parts(chunk.phonemes)
    visemes = [p.viseme or "sil" for p in parts]
    idx = np.array([VISEME_INDEX[v] for v in visemes], dtype=np.int64)
    starts = np.array([p.start for p in parts]) + start
    ends = np.array([p.end for p in parts]) + start
    centres, durs = (starts + ends) / 2, np.maximum(ends - starts, 1e-3)
    vowel = np.array([v in _VOWEL_VISEMES for v in visemes])
    amp = np.array([p.amp for p in parts])
    alpha = np.array([DOMINANCE[v] for v in visemes])
    reach = np.where(vowel, REACH_VOWEL, REACH_CONSONANT)

    ts = _grid(start, chunk.duration)
    # full dominance over the inner part of a segment, decaying over a fixed reach outside it:
    # a long segment holds its shape without swamping its short neighbours. The shape at t is
    # the one due at t + ANTICIPATION: the jaw moves before the sound it shapes.
    due = ts[:, None] + ANTICIPATION
    outside = np.maximum(0.0, np.abs(due - centres[None, :]) - PLATEAU * durs / 2)
    d = alpha * np.exp(-(outside / reach) ** 1.5)  # (n_t, n_parts)
    targets = POSES[idx] * amp[:, None].astype(np.float32)
    poses = (d @ targets) / np.maximum(d.sum(axis=1, keepdims=True), 1e-9)

    closure = np.zeros(len(ts))
    half_frame = 0.5 / fps + 1.0 / RATE  # a frame, plus the track's own sampling step
    for i, p in enumerate(parts):
        if not p.bilabial:
            continue
        lo, hi = starts[i], ends[i]
        if hi - lo < 2 * half_frame:
            lo, hi = centres[i] - half_frame, centres[i] + half_frame
        ramp_in = smoothstep((ts - (lo - CLOSURE_RAMP)) / CLOSURE_RAMP)
        ramp_out = 1.0 - smoothstep((ts - hi) / CLOSURE_RAMP)
        closure = np.maximum(closure, np.minimum(ramp_in, ramp_out))
    return MouthTrack(start, start + chunk.duration, poses.astype(np.float32), closure)


# ------------------------------------------------------------------------------- audio fallback

ATTACK, RELEASE = 0.012, 0.06  # seconds: the jaw opens fast and closes more slowly
FOLLOWER_ADVANCE = 0.02  # the follower's lag, taken back (measured on Piper speech)
_OPEN_POSE = weights_from({"jawOpen": 0.55, "mouthLowerDownLeft": 0.3, "mouthLowerDownRight": 0.3,
                           "mouthUpperUpLeft": 0.1, "mouthUpperUpRight": 0.1,
                           "mouthStretchLeft": 0.08, "mouthStretchRight": 0.08})


def envelope(audio: np.ndarray, sample_rate: int, window: float = 0.025) -> np.ndarray:
    """RMS on a centred window at ``RATE`` per second (sample k is at k / RATE seconds)."""
    audio = np.asarray(audio, dtype=np.float64)
    n = int(np.ceil(len(audio) / sample_rate * RATE)) + 1
    half = max(1, int(window * sample_rate / 2))
    csum = np.concatenate([[0.0], np.cumsum(audio * audio)])
    centre = np.round(np.arange(n) * sample_rate / RATE).astype(np.int64)
    lo = np.clip(centre - half, 0, len(audio))
    hi = np.clip(centre + half, 0, len(audio))
    return np.sqrt((csum[hi] - csum[lo]) / np.maximum(hi - lo, 1))


def _attack_release(x: np.ndarray) -> np.ndarray:
    a = 1.0 - np.exp(-1.0 / (ATTACK * RATE))
    r = 1.0 - np.exp(-1.0 / (RELEASE * RATE))
    out = np.empty_like(x)
    y = 0.0
    for i, v in enumerate(x):
        y += (a if v > y else r) * (v - y)
        out[i] = y
    return out


def opening_from_audio(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mouth opening 0..1 at ``RATE`` from loudness, for voices without phoneme timings.

    An attack/release follower opens the jaw quickly at a sound's onset and lets it close
    more slowly; on speech it lags the sound by about 20 ms (cross-correlated with the
    envelope), so its output is advanced by that much (the whole chunk is known before it
    plays) to stay centred on the audio.
    """
    env = envelope(audio, sample_rate)
    voiced = env[env > 0.02 * max(float(env.max()), 1e-9)]
    ref = float(np.percentile(voiced, 95)) if len(voiced) else 1.0
    level = np.clip(env / max(ref, 1e-6), 0.0, 1.0)
    level = np.where(level > 0.08, level, 0.0) ** 0.7
    followed = _attack_release(level)
    shift = int(round(FOLLOWER_ADVANCE * RATE))
    return np.concatenate([followed[shift:], np.repeat(followed[-1:], shift)])


def audio_track(chunk: SpeechChunk, start: float) -> MouthTrack:
    opening = opening_from_audio(chunk.audio, chunk.sample_rate)
    poses = opening[:, None].astype(np.float32) * _OPEN_POSE[None, :]
    return MouthTrack(start, start + chunk.duration, poses, np.zeros(len(opening)))


def mouth_track(chunk: SpeechChunk, start: float, fps: float = 30.0) -> MouthTrack:
    """From phonemes when the voice gives them, else from the audio's loudness."""
    if chunk.phonemes:
        return phoneme_track(chunk, start, fps)
    return audio_track(chunk, start)


def speech_beats(chunk: SpeechChunk, min_gap: float = 0.35) -> list[float]:
    """Seconds (from the chunk's start) of the stressed syllables a speaker's head moves with.

    From stressed vowels when phonemes are known, else from loudness peaks.
    """
    times: list[float] = []
    if chunk.phonemes:
        ph = chunk.phonemes
        for i, p in enumerate(ph):
            if not p.stress:
                continue
            nucleus = next((q for q in ph[i:i + 4] if viseme_of(q.phoneme) in _VOWEL_VISEMES), p)
            times.append(nucleus.start)
    else:
        opening = opening_from_audio(chunk.audio, chunk.sample_rate)
        peak = (opening[1:-1] > 0.75) & (opening[1:-1] >= opening[:-2]) & (opening[1:-1] > opening[2:])
        times = [(i + 1) / RATE for i in np.flatnonzero(peak)]
    out: list[float] = []
    for t in times:
        if not out or t - out[-1] >= min_gap:
            out.append(t)
    return out


# ------------------------------------------------------------------------------- combining


def articulate(weights: np.ndarray, pose: np.ndarray, closure: float, activity: float) -> np.ndarray:
    """Speech on top of an expression, in place: the mouth articulates, the face keeps its
    emotion (a smiling mouth still says "oo", with the smile pulled in by the pucker).

    ``activity`` 0..1 says how much speech owns the mouth; ``closure`` seals the lips for
    bilabials over whatever the jaw and expression are doing.
    """
    w = weights
    w[_ARTICULATORS] *= 1.0 - 0.6 * activity
    w += pose
    rounding = min(1.0, float(w[_PUCKER] + w[_FUNNEL]))
    w[_SMILE] *= 1.0 - 0.5 * rounding
    if closure > 0.0:
        jaw = float(w[_JAW])
        w[_JAW] = jaw * (1.0 - closure) + min(jaw, 0.06) * closure
        w[_OPENERS] *= 1.0 - closure
        w[_CLOSE] = w[_CLOSE] * (1.0 - closure) + w[_JAW] * closure
        w[_PRESS] = np.maximum(w[_PRESS], 0.5 * closure)
    np.clip(w, 0.0, 1.0, out=w)
    return w


def lip_gap(weights: np.ndarray) -> float:
    """How far apart the lips are, 0 (sealed) .. about 1: the jaw's opening not cancelled by
    mouthClose, plus lips pulled away from the teeth."""
    w = weights
    jaw = max(0.0, float(w[_JAW] - w[_CLOSE]))
    lips = 0.5 * float(w[_I["mouthLowerDownLeft"]] + w[_I["mouthLowerDownRight"]]
                       + w[_I["mouthUpperUpLeft"]] + w[_I["mouthUpperUpRight"]]) / 2
    return jaw + lips + 0.2 * float(w[_FUNNEL])
