"""Voice activity with silero-vad (the model the PyPI package ships) and utterance segmentation.

``SileroVad.prob(frame)`` scores one 32 ms frame (stateful: frames must come in order).
``Segmenter`` turns per-frame probabilities into utterances with a table of
(state, frame is speech) → action, hysteresis (enter at ``threshold``, leave below
``neg_threshold``), padding before and after, and a minimum silence that splits utterances.
"""

from __future__ import annotations

import collections
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from agent.core.errors import MissingDependency
from perception.audio_source import FRAME, FRAME_S, SAMPLE_RATE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VadConfig:
    threshold: float = 0.5
    neg_threshold: float | None = None  # default: threshold - 0.15
    speech_pad_ms: int = 96  # audio kept before the onset and after the last speech frame
    min_silence_ms: int = 256  # silence that ends an utterance
    min_speech_ms: int = 96  # shorter bursts (clicks, coughs) are not utterances

    @property
    def leave(self) -> float:
        return self.threshold - 0.15 if self.neg_threshold is None else self.neg_threshold


class SileroVad:
    """silero-vad v5 on 512-sample frames; ONNX Runtime when present (faster), else TorchScript."""

    def __init__(self, onnx: bool | None = None) -> None:
        try:
            from silero_vad import load_silero_vad
        except ImportError:
            raise MissingDependency("silero-vad", "pip install silero-vad") from None
        if onnx is None:
            try:
                import onnxruntime  # noqa: F401

                onnx = True
            except ImportError:
                onnx = False
        self.backend = "onnx" if onnx else "jit"
        self.model = load_silero_vad(onnx=onnx)
        import torch

        self._torch = torch

    def prob(self, samples: np.ndarray) -> float:
        """Speech probability of one 512-sample frame at 16 kHz (call frames in order)."""
        with self._torch.no_grad():
            return float(self.model(self._torch.from_numpy(np.ascontiguousarray(samples, np.float32)),
                                    SAMPLE_RATE))

    def reset(self) -> None:
        self.model.reset_states()


# ---------------------------------------------------------------- segmentation


@dataclass
class Segment:
    """One utterance: ``start``/``end`` on the input clock (padding included)."""

    start: float
    end: float
    audio: np.ndarray
    onset: float  # first speech frame (no padding)
    offset: float  # end of the last speech frame (no padding)
    probs: list[float] = field(default_factory=list)
    burst: bool = False  # shorter than min_speech_ms (a click, a cough): not an utterance

    @property
    def confidence(self) -> float:
        """Mean speech probability over the frames judged speech."""
        return float(np.mean(self.probs)) if self.probs else 0.0

    @property
    def duration(self) -> float:
        return self.end - self.start


class SegState(enum.Enum):
    SILENCE = "silence"
    SPEECH = "speech"
    TRAILING = "trailing"  # speech stopped, waiting for min_silence


@dataclass(frozen=True)
class SpeechStart:
    onset: float


@dataclass(frozen=True)
class SpeechEnd:
    segment: Segment


SegEvent = SpeechStart | SpeechEnd


class Segmenter:
    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = c = config or VadConfig()
        self.pad_frames = max(0, round(c.speech_pad_ms / 1000 / FRAME_S))
        self.silence_frames = max(1, round(c.min_silence_ms / 1000 / FRAME_S))
        self.min_speech = c.min_speech_ms / 1000
        self.state = SegState.SILENCE
        self._preroll: collections.deque[tuple[float, np.ndarray]] = collections.deque(maxlen=self.pad_frames)
        self._frames: list[np.ndarray] = []
        self._start = self._onset = self._offset = 0.0
        self._probs: list[float] = []
        self._quiet = 0
        S = SegState
        # (state, frame is speech) -> action; the whole machine in one table
        self._table: dict[tuple[SegState, bool], Callable[[float, np.ndarray, float], list[SegEvent]]] = {
            (S.SILENCE, False): self._idle,
            (S.SILENCE, True): self._begin,
            (S.SPEECH, True): self._extend,
            (S.SPEECH, False): self._pause,
            (S.TRAILING, True): self._extend,
            (S.TRAILING, False): self._wait,
        }

    def feed(self, t: float, samples: np.ndarray, prob: float) -> list[SegEvent]:
        """One frame starting at ``t`` with its speech probability → events it completes."""
        level = self.config.threshold if self.state is SegState.SILENCE else self.config.leave
        return self._table[(self.state, prob >= level)](t, samples, prob)

    def flush(self) -> list[SegEvent]:
        """End of input: close the open utterance, if any."""
        if self.state is SegState.SILENCE:
            return []
        return self._close()

    @property
    def in_speech(self) -> bool:
        return self.state is not SegState.SILENCE

    @property
    def onset(self) -> float:
        return self._onset

    @property
    def quiet_frames(self) -> int:
        """Frames of silence since the speech of the open utterance last stopped (0 in speech)."""
        return self._quiet if self.state is SegState.TRAILING else 0

    @property
    def start(self) -> float:
        """Start of the open utterance's audio (its padding included), input clock."""
        return self._start

    def current_audio(self) -> np.ndarray:
        return np.concatenate(self._frames) if self._frames else np.zeros(0, np.float32)

    # ------------------------------------------------------------------ actions
    def _idle(self, t: float, samples: np.ndarray, prob: float) -> list[SegEvent]:
        self._preroll.append((t, samples))
        return []

    def _begin(self, t: float, samples: np.ndarray, prob: float) -> list[SegEvent]:
        self.state = SegState.SPEECH
        pre = list(self._preroll)
        self._preroll.clear()
        self._frames = [s for _, s in pre] + [samples]
        self._start = pre[0][0] if pre else t
        self._onset, self._offset = t, t + FRAME_S
        self._probs = [prob]
        self._quiet = 0
        return [SpeechStart(t)]

    def _extend(self, t: float, samples: np.ndarray, prob: float) -> list[SegEvent]:
        self.state = SegState.SPEECH
        self._frames.append(samples)
        self._offset = t + FRAME_S
        self._probs.append(prob)
        self._quiet = 0
        return []

    def _pause(self, t: float, samples: np.ndarray, prob: float) -> list[SegEvent]:
        self.state = SegState.TRAILING
        return self._wait(t, samples, prob)

    def _wait(self, t: float, samples: np.ndarray, prob: float) -> list[SegEvent]:
        self._frames.append(samples)
        self._quiet += 1
        return self._close() if self._quiet >= self.silence_frames else []

    def _close(self) -> list[SegEvent]:
        keep = len(self._frames) - max(0, self._quiet - self.pad_frames)
        frames = self._frames[:keep]
        audio = np.concatenate(frames) if frames else np.zeros(0, np.float32)
        seg = Segment(self._start, self._start + len(audio) / SAMPLE_RATE, audio,
                      self._onset, self._offset, self._probs,
                      burst=self._offset - self._onset < self.min_speech)
        # the silence after the utterance may hold the padding of the next one
        tail = self._frames[keep:][-self.pad_frames:] if self.pad_frames else []
        self._preroll.clear()
        end_t = self._start + len(self._frames) * FRAME_S
        for i, s in enumerate(tail):
            self._preroll.append((end_t - (len(tail) - i) * FRAME_S, s))
        self.state = SegState.SILENCE
        self._frames, self._probs, self._quiet = [], [], 0
        return [SpeechEnd(seg)]


def segment_audio(audio: np.ndarray, vad: SileroVad, config: VadConfig | None = None) -> list[Segment]:
    """Whole-signal segmentation (evaluation, ``agent perceive``)."""
    vad.reset()
    seg = Segmenter(config)
    out: list[Segment] = []
    for i in range(0, len(audio), FRAME):
        chunk = audio[i:i + FRAME]
        if len(chunk) < FRAME:
            chunk = np.pad(chunk, (0, FRAME - len(chunk)))
        for e in seg.feed(i / SAMPLE_RATE, chunk, vad.prob(chunk)):
            if isinstance(e, SpeechEnd) and not e.segment.burst:
                out.append(e.segment)
    out.extend(e.segment for e in seg.flush() if isinstance(e, SpeechEnd) and not e.segment.burst)
    return out
