"""The stages of a session as small protocols: what the pipeline builder wires together.

Each backend implements one of these (an LLM server or the embedded model, Piper or espeak-ng,
the drawn or the photo avatar, a file or a virtual camera), so a stage can be swapped, faked in
a test, or supplied by a plugin without touching the wiring (``agent.pipeline``). Blocking
calls (``synthesize``, ``render``, ``write``) are run off the event loop by their callers.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from agent.core.face_state import FaceState
from agent.core.speech import SpeechChunk

# ---------------------------------------------------------------- LLM

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of the conversation, in the shape every chat API shares."""

    role: Role
    content: str


@runtime_checkable
class LLM(Protocol):
    """A text generator the dialogue streams from.

    ``stream`` yields text deltas as the backend produces them, so TTS can start on the first
    sentence; a backend that fails (down, slow, dropped mid-reply) raises
    ``agent.core.errors.BackendUnavailable`` instead of hanging.
    """

    name: str
    is_base_model: bool

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int | None = None, stop: Sequence[str] = ()
    ) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...


# ---------------------------------------------------------------- speech


@dataclass(frozen=True, slots=True)
class Prosody:
    """How to speak, relative to the voice's own defaults.

    ``rate`` multiplies speaking rate, ``pitch_semitones`` shifts the pitch level,
    ``pitch_range`` multiplies F0 excursions around the median (in semitones), ``volume``
    multiplies amplitude and ``pause_scale`` multiplies the length of pauses at punctuation.
    """

    rate: float = 1.0
    pitch_semitones: float = 0.0
    pitch_range: float = 1.0
    volume: float = 1.0
    pause_scale: float = 1.0

    @classmethod
    def of_voice(cls, voice: Any) -> Prosody:
        """The persona's baseline: its voice settings (``persona.config.Voice``) with no emotion on top."""
        return cls(rate=voice.rate, pitch_semitones=voice.pitch, pitch_range=voice.pitch_range,
                   volume=voice.volume)


@runtime_checkable
class TTS(Protocol):
    """A speech synthesizer with phoneme timings.

    ``synthesize`` is a blocking generator (callers run it in a worker thread). It yields one
    ``SpeechChunk`` per sentence; each chunk's phonemes are IPA (stress marks folded into the
    ``stress`` flag, pauses as ``SILENCE``), times in seconds from the chunk's audio start, and
    they tile the chunk's audio exactly. When ``cancel`` is set it stops within one short
    synthesis step and yields nothing more.
    """

    name: str
    sample_rate: int

    def synthesize(self, text: str, prosody: Prosody,
                   cancel: threading.Event | None = None) -> Iterator[SpeechChunk]: ...


@runtime_checkable
class AudioOutput(Protocol):
    """Speakers, a virtual microphone or a virtual clock: the session's master clock."""

    sample_rate: int

    async def play(self, chunk: SpeechChunk) -> None:
        """Queue a chunk; waits while the output's bounded buffer is full."""

    def position(self) -> int:
        """Samples actually played since the output opened (never decreases)."""

    def clock(self) -> float:
        """Seconds of audio played: the session's master clock."""

    def start_utterance(self) -> None:
        """Mark that the next queued sample begins a new utterance (for ``heard``/``cancel``)."""

    def heard(self) -> int:
        """Samples of the current utterance played so far."""

    def cancel(self) -> int:
        """Stop the sound now (within 50 ms), drop what is queued; returns samples heard."""

    async def drain(self) -> None:
        """Wait until everything queued has been played."""

    async def aclose(self) -> None: ...


# ---------------------------------------------------------------- face


class Animator(Protocol):
    """What the agent feels, says and sees → one ``FaceState`` per frame on the audio clock."""

    fps: float

    def set_emotion(self, emotion: Any, t: float, description: str = "") -> None: ...

    def speak(self, chunk: SpeechChunk, start_t: float) -> None: ...

    def interrupt(self, t: float) -> None: ...

    def set_listening(self, listening: bool, t: float) -> None: ...

    def set_user_position(self, position: tuple[float, float] | None, t: float) -> None: ...

    def set_user_affect(self, t: float, affect_vad: tuple[float, float, float] | None = None,
                        blendshapes: Sequence[float] | np.ndarray | None = None) -> None: ...

    def user_paused(self, t: float) -> bool: ...

    def frame(self, t: float) -> FaceState: ...


@runtime_checkable
class Renderer(Protocol):
    """FaceState frames in, RGB frames out; batch-first and blocking (run it in a worker)."""

    size: tuple[int, int]  # (width, height)

    def render(self, states: Sequence[FaceState]) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB, one frame per state, rendered as one batch."""
        ...

    def push_audio(self, audio: np.ndarray, sample_rate: int, t: float) -> None:
        """Audio that starts at ``t`` on the audio clock; neural renderers may use it."""
        ...


class Sink(Protocol):
    """Where frames go (a file, a virtual camera, a window); blocking, paced on the audio clock."""

    def write(self, frame: np.ndarray, t: float) -> None: ...

    def write_audio(self, audio: np.ndarray, sample_rate: int, t: float) -> None: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------- perception


class InputStage(Protocol):
    """Hearing or seeing: runs until its input ends, publishing what it perceives on the bus."""

    async def run(self) -> None: ...

    async def aclose(self) -> None: ...
