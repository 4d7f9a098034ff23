"""Voice arousal on acted speech: does the voice reading separate high-arousal clips (anger, joy,
fear) from low ones (sadness, boredom) better than a plain log-F0 + intensity score?

No acted emotional speech corpus could be had from the package registries with a licence that
allows it (RAVDESS, CREMA-D, TESS and EmoDB are not packaged there), so the clips are
synthesized with espeak-ng (GPL-3.0): ``SPEAKERS`` voices, each with its own pitch, pace and
microphone level, act each emotion with the prosody Juslin & Laukka (2003) report for it
(anger and joy: higher and wider pitch, louder, faster; fear: high pitch, fast; sadness and
boredom: lower, narrower, softer, slower), with a random spread per clip so that no single cue
decides. The effect sizes are this module's design choice, not measurements: the figure shows
that the reading works as built and where a plain score loses (speakers whose own pitch and
level differ), not how it does on human actors; EmoDB, held out, is the judge of that.

Each speaker's clips are heard as one conversation (neutral and disgust clips in between too),
so the speaker's baseline forms as it would live; the first clip of every speaker is counted
to check that it gets a reading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.bench.report import Figure

SENTENCES = ("The meeting was moved to Thursday afternoon.", "I left the keys on the kitchen table.",
             "We drove along the coast until it got dark.", "She opened the letter and read it twice.")
# (pitch, speed, amplitude) multipliers or offsets per acted emotion, after Juslin & Laukka
ACTED: dict[str, tuple[float, float, float]] = {
    "anger": (10.0, 1.15, 1.6), "joy": (14.0, 1.10, 1.35), "fear": (18.0, 1.20, 1.1),
    "neutral": (0.0, 1.0, 1.0), "disgust": (-2.0, 0.92, 1.05),
    "sadness": (-8.0, 0.82, 0.65), "boredom": (-6.0, 0.85, 0.75),
}
HIGH, LOW = ("anger", "joy", "fear"), ("sadness", "boredom")
SPEAKERS = ("en-us+m1", "en-us+m3", "en-us+m5", "en+m2", "en-us+f1", "en-us+f2", "en-us+f4", "en+f3")


@dataclass(frozen=True, slots=True)
class Clip:
    speaker: str
    emotion: str
    audio: np.ndarray


def clips(seed: int = 0, quick: bool = False) -> list[list[Clip]]:
    """One list of clips per speaker, in the order they are heard."""
    from agent.bench.speech import espeak

    rng = np.random.default_rng([seed, 77])
    speakers = SPEAKERS[::4] if quick else SPEAKERS
    sentences = SENTENCES[:1] if quick else SENTENCES
    out = []
    for voice in speakers:
        female = "+f" in voice
        pitch0 = float(rng.uniform(55, 75) if female else rng.uniform(25, 45))
        speed0, gain = float(rng.uniform(140, 180)), float(10 ** (rng.uniform(-6, 6) / 20))
        plan = [(e, s) for e in ACTED for s in sentences]
        order = rng.permutation(len(plan))
        said = []
        for i in order:
            emotion, sentence = plan[int(i)]
            dp, sp, amp = ACTED[emotion]
            pitch = int(np.clip(pitch0 + dp + rng.normal(0, 5), 0, 99))
            speed = int(speed0 * sp * rng.uniform(0.9, 1.1))
            amplitude = int(np.clip(60 * amp * rng.uniform(0.8, 1.2), 10, 200))
            audio = espeak(sentence, voice=voice, speed=speed, pitch=pitch, amplitude=amplitude)
            said.append(Clip(voice, emotion, (gain * audio).astype(np.float32)))
        out.append(said)
    return out


def auc(high: list[float], low: list[float]) -> float:
    """Probability that a high-arousal clip scores above a low one (ties count half)."""
    h, lo = np.asarray(high)[:, None], np.asarray(low)[None, :]
    return float(((h > lo).sum() + 0.5 * (h == lo).sum()) / (h.size * lo.size))


def figures(quick: bool = False, seed: int = 0) -> tuple[list[Figure], list[str], bool]:
    """The voice reading's AUC, the plain score's, clips without a reading, and whether the
    reading wins with every first clip read."""
    from perception.voice_affect import VoiceAffect, prosody

    ours: list[tuple[str, float]] = []
    plain: list[tuple[str, float, float]] = []
    unread = firsts = 0
    for conversation in clips(seed, quick):
        voice = VoiceAffect()  # one listener per speaker, as in a session
        for k, clip in enumerate(conversation):
            est = voice.estimate(clip.audio, float(k))
            p = prosody(clip.audio)
            if p is None:
                continue
            silent = est.confidence <= 0.0 or all(abs(x) < 1e-9 for x in est.vad)
            unread += silent
            firsts += silent and k == 0
            ours.append((clip.emotion, est.vad[1]))
            plain.append((clip.emotion, p.f0, p.loudness))
    f0 = np.array([x[1] for x in plain])
    loud = np.array([x[2] for x in plain])
    score = (f0 - f0.mean()) / (f0.std() + 1e-9) + (loud - loud.mean()) / (loud.std() + 1e-9)

    def split(values: list[tuple[str, float]]) -> tuple[float, int]:
        return auc([v for e, v in values if e in HIGH], [v for e, v in values if e in LOW]), len(values)

    ours_auc, n = split(ours)
    plain_auc, _ = split([(e, float(s)) for (e, _, _), s in zip(plain, score)])
    n_speakers = len(SPEAKERS[::4] if quick else SPEAKERS)
    notes = [f"voice arousal: {n} espeak-ng clips acted by {n_speakers} synthetic speakers (prosody "
             "after Juslin & Laukka; a design, not human actors), each speaker heard as one conversation"]
    ok = ours_auc > plain_auc and firsts == 0
    return [Figure("voice arousal AUC, high vs low (voice reading)", round(ours_auc, 4)),
            Figure("voice arousal AUC, high vs low (plain log-F0 + intensity)", round(plain_auc, 4)),
            Figure("voice clips without a reading", float(unread)),
            Figure("voice: first clips of a speaker without a reading", float(firsts))], notes, ok
