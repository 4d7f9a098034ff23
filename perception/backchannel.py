"""Is speech that starts over the agent an acknowledgement ("yeah", "uh-huh", "okay") or the
user taking the turn? Decided from the first 150-300 ms, before the interrupt is due.

Whisper's *words* for a quarter second of a short word are unreliable — tiny.en writes espeak's
"yeah" as "India" and "right" as "run run run" — but its *encoder* has heard the sound well.
``BackchannelHead`` is a small network (one hidden layer) over what ``WhisperAsr.first_look``
returns for the onset: the encoder frames that cover it, pooled, and the log-probabilities the
decoder gives to the first words of acknowledgements and of turn openings. It is trained by
``scripts/train_backchannel.py`` on speech synthesized with espeak-ng voices and heard through
the real echo gate and VAD while an agent talks; the project's Piper voice is kept out of
training so that the benchmark measures a voice the head has never heard.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# First words of acknowledgements, as Whisper begins them (it writes " Uh" for "uh-huh").
ACK_WORDS = ("Yeah", "yeah", "Yes", "yes", "Yep", "Yup", "Uh", "uh", "Mm", "mm", "Hmm", "hmm", "Mhm",
             "Okay", "okay", "OK", "Ok", "Right", "right", "Sure", "sure", "I", "Got", "Cool", "Nice",
             "Wow", "Aha", "Ah", "All", "Exactly", "True", "Alright")
# The previous-text context for Whisper when it reads a paused utterance: leans a short, unclear
# sound towards the acknowledgement it most likely was ("got it" read as "that is" otherwise);
# words that are really there still come through ("Wait.", "Can I ask something?").
ACK_PROMPT = "Mm-hmm. Yeah. Okay. Uh-huh. Right. I see. Got it. Sure. Yes. Alright."
# First words that usually take the turn.
OPENERS = ("Oh", "No", "Wait", "So", "What", "But", "Sorry", "Hold", "Can", "Well", "Hey", "Excuse",
           "Actually", "Why", "How", "Let", "Please", "Stop", "Do", "Is", "The", "And", "You", "That",
           "It", "We", "Just", "Come", "Look", "Listen", "Hang", "One", "Are", "Where", "Who")


def word_logprobs(logprobs: np.ndarray, ack_ids: list[int], opener_ids: list[int]) -> np.ndarray:
    """What the decoder's first step says: the log-probabilities of both word lists, the
    acknowledgements' total, and how sure it is of anything at all."""
    ack = logprobs[ack_ids].astype(np.float64)
    total = float(np.log(np.exp(ack - ack.max()).sum()) + ack.max())
    return np.concatenate([logprobs[ack_ids], logprobs[opener_ids], [total, float(logprobs.max())]]).astype(np.float32)


def onset_features(frames: np.ndarray, words: np.ndarray) -> np.ndarray:
    """The head's input: the encoder frames pooled — mean and max over the onset, and the mean of
    its last 100 ms (what is being said now) — and the decoder's word log-probabilities."""
    return np.concatenate([frames.mean(0), frames.max(0), frames[-5:].mean(0), words]).astype(np.float32)


class BackchannelHead:
    """The trained head (one hidden layer) and the operating point chosen with it."""

    def __init__(self, arrays: dict[str, np.ndarray] | None = None) -> None:
        if arrays is None:
            from persona.heads import load

            arrays = load("backchannel")
        self.mean, self.scale = arrays["mean"], arrays["scale"]
        self.w1, self.b1, self.w2, self.b2 = arrays["w1"], arrays["b1"], arrays["w2"], float(arrays["b2"])
        self.width = int(arrays["width"])  # the encoder it reads (384: Whisper tiny)
        # above ``hold_above`` an acknowledgement, below ``pause_below`` clearly not one: pause;
        # still unsure ``decide_by`` after the VAD onset: pause
        self.hold_above, self.pause_below = float(arrays["hold_above"]), float(arrays["pause_below"])
        self.decide_by = float(arrays["decide_by"])

    def probability(self, x: np.ndarray) -> float:
        from persona.heads import gelu

        z = float(gelu(((x - self.mean) / self.scale) @ self.w1 + self.b1) @ self.w2 + self.b2)
        return float(1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0))))


class OnsetJudge:
    """Looks at the onset of an utterance over the agent through Whisper and the head.

    The head reads tiny.en's encoder; when the transcripts come from another Whisper (``--asr-model
    small.en``, the multilingual model of a persona that speaks another language), the judge
    keeps the bundled tiny.en for its looks."""

    def __init__(self, asr: Any, head: BackchannelHead | None = None) -> None:
        self.head = head or BackchannelHead()
        if self.head.width and (asr.encoder_width() != self.head.width or asr.language not in (None, "en")):
            from perception.asr import WhisperAsr

            asr = WhisperAsr()
        self.asr = asr
        self._ack = asr.token_ids(list(ACK_WORDS))
        self._open = asr.token_ids(list(OPENERS))

    def look(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whisper's encoder frames over the onset and its word log-probabilities."""
        frames, logprobs = self.asr.first_look(audio)
        return frames, word_logprobs(logprobs, self._ack, self._open)

    def features(self, audio: np.ndarray) -> np.ndarray:
        return onset_features(*self.look(audio))

    def probability(self, audio: np.ndarray) -> float:
        """How likely the onset in ``audio`` (from one frame before it) is an acknowledgement."""
        return self.head.probability(self.features(audio))
