"""Turn-taking on the user's side: when has the user finished, and when do they take the turn.

Two small machines, each a table of (state, input) → action, fed on the *input* audio clock so
that their timing is the same in a test, from a file and live:

* ``EndOfTurnDetector``: the end of a turn comes from VAD silence plus the transcript. A
  question or finished sentence ends the turn after ``finished_silence`` (250 ms); a fragment
  ("so I was thinking that", "um") waits ``unfinished_silence`` (700 ms) for more, and speech
  that resumes in time continues the same turn.
* ``BargeIn``: while the agent speaks, user speech (already cleared of the agent's echo)
  sustained for ``barge_in`` seconds fires an interrupt — unless a quick look at its words says
  it is a backchannel ("uh-huh", "yeah", "mm-hm"), which is held and only interrupts when it
  goes on past ``backchannel_max``.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Acknowledgements that keep the listener listening. Fillers ("uh", "um", "oh") are *not* here:
# a speaker who starts with one is usually taking the turn.
BACKCHANNELS = frozenset({
    "uh-huh", "uh huh", "uhhuh", "mm-hm", "mm-hmm", "mhm", "mm", "mmm", "hmm", "hm", "mm hm",
    "yeah", "yes", "yep", "yup", "ok", "okay", "right", "sure", "aha", "i see", "got it", "cool",
    "nice", "wow", "exactly", "true",
})
_FILLER_END = frozenset({
    "and", "but", "or", "so", "because", "the", "a", "an", "to", "of", "with", "for", "in", "on",
    "at", "that", "which", "if", "um", "uh", "er", "like", "my", "your", "is", "was", "i", "then",
})
_WORD = re.compile(r"[a-z']+(?:-[a-z']+)*")


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower())


_HUM = re.compile(r"^(?:m+|h+m+|m+h+m+|u+h+h*u+h+|a+h+a+|y+e+a+h+)$")  # however Whisper spells a hum


def _ack(word: str) -> bool:
    return word in BACKCHANNELS or _HUM.match(word.replace("-", "")) is not None


def _once(words: list[str]) -> list[str]:
    """Consecutive repeats collapsed: on a short clip greedy Whisper loops ("Yeah. Yeah. Yeah.")."""
    return [w for i, w in enumerate(words) if i == 0 or w != words[i - 1]]


def is_backchannel(text: str) -> bool:
    """Only acknowledgement tokens (or nothing lexical at all, as Whisper writes a hum)."""
    words = _once(words_of(text))
    if not words:
        return True
    return " ".join(words) in BACKCHANNELS or (len(words) <= 3 and all(_ack(w) for w in words))


# What Whisper writes for the first ~250 ms of a murmur, a hum or a vowel it cannot place: a lone
# function word or filler says nothing yet about whether the user is taking the turn.
# ("so", "oh", "well" are not here: an utterance that opens with them over the agent takes the turn.)
_NOT_YET = frozenset({
    "and", "the", "a", "an", "i", "in", "on", "but", "uh", "um", "er", "ah", "that",
    "then", "to", "of", "it", "is", "this", "there", "you", "he", "she", "we", "they", "for", "at",
})


# and what it writes for a clip with no speech in it at all (its best-known hallucinations)
_SILENCE = frozenset({"thank you", "thank you very much", "thanks for watching", "you", "bye"})


def onset_verdict(text: str) -> bool | None:
    """What the first words of an utterance that began over the agent say: ``True`` a
    backchannel, ``False`` the user is taking the turn, ``None`` nothing telling yet (no words,
    or only function words and fillers — look again)."""
    words = _once(words_of(text))
    if (words and all(w in _NOT_YET for w in words)) or " ".join(words) in _SILENCE:
        return None
    if not words:
        return None
    return is_backchannel(text)


def sentence_finished(text: str) -> bool:
    """A question or a complete sentence: ends in ?, ! or . and not on a word that promises
    more (Whisper writes a full stop after fragments too)."""
    text = text.strip()
    if not text:
        return False
    if text.endswith("?"):
        return True
    if text.endswith(("...", "…", ",", "-", ";", ":")):
        return False
    words = words_of(text)
    if not words or words[-1] in _FILLER_END:
        return False
    return text.endswith((".", "!"))


FRAME_GAP = 0.04  # more than a frame (32 ms) between speech frames: the speech broke off


@dataclass(frozen=True)
class TurnConfig:
    finished_silence: float = 0.25  # seconds of silence after a finished sentence or question
    unfinished_silence: float = 0.70  # after a fragment
    barge_in: float = 0.18  # sustained user speech (VAD onset to decision) that interrupts
    barge_in_gap: float = 0.13  # a dip shorter than this (between syllables) does not reset the onset
    word_min: float = 0.128  # a short word over the agent ("Wait," "No,") is looked at when it ends
    backchannel_max: float = 1.0  # a held backchannel that goes on this long interrupts after all
    backchannel_gap: float = 0.30  # silence that ends a held backchannel
    check_words: bool = True  # look at the onset's words before interrupting
    held_recheck: float = 0.3  # a held backchannel that goes on is looked at again this much later
    recheck: float = 0.032  # when the onset held no words yet (a vowel, a hum), look again this much later
    decide_by: float = 0.26  # ... but no later than this after the onset: still nothing telling is a hum


@dataclass(frozen=True)
class TurnDecision:
    text: str
    audio_end_t: float  # end of the user's speech, input clock
    decided_at: float  # when it was decided, input clock
    finished: bool


# ---------------------------------------------------------------- end of turn


class EotState(enum.Enum):
    IDLE = "idle"
    SPEAKING = "speaking"
    TRANSCRIBING = "transcribing"  # speech ended, words not in yet
    WAITING = "waiting"  # words in, waiting out the silence the words call for


class EndOfTurnDetector:
    def __init__(self, config: TurnConfig | None = None) -> None:
        self.config = config or TurnConfig()
        self.state = EotState.IDLE
        self._texts: list[str] = []
        self._end = 0.0
        self._deadline = 0.0
        self._finished = False
        S = EotState
        self._table: dict[tuple[EotState, str], Callable[[float, str], TurnDecision | None]] = {
            (S.IDLE, "start"): self._start,
            (S.SPEAKING, "start"): self._ignore,
            (S.TRANSCRIBING, "start"): self._start,
            (S.WAITING, "start"): self._start,
            (S.SPEAKING, "end"): self._ended,
            (S.SPEAKING, "words"): self._words,  # a transcript can overtake the end-of-speech
            (S.TRANSCRIBING, "words"): self._words,
            (S.WAITING, "words"): self._words,
            (S.WAITING, "tick"): self._tick,
        }

    def speech_started(self, t: float) -> None:
        self._on("start", t)

    def speech_ended(self, t: float) -> None:
        self._on("end", t)

    def transcript(self, text: str, now: float) -> TurnDecision | None:
        return self._on("words", now, text)

    def tick(self, now: float) -> TurnDecision | None:
        return self._on("tick", now)

    def _on(self, what: str, t: float, text: str = "") -> TurnDecision | None:
        handler = self._table.get((self.state, what))
        return handler(t, text) if handler is not None else None

    def _ignore(self, t: float, text: str) -> None:
        return None

    def _start(self, t: float, text: str) -> None:
        self.state = EotState.SPEAKING

    def _ended(self, t: float, text: str) -> None:
        self._end = t
        self.state = EotState.TRANSCRIBING

    def _words(self, now: float, text: str) -> TurnDecision | None:
        if text.strip():
            self._texts.append(text.strip())
        if not self._texts:  # noise that transcribed to nothing: no turn
            self.state = EotState.IDLE
            return None
        self._finished = sentence_finished(self._texts[-1])
        wait = self.config.finished_silence if self._finished else self.config.unfinished_silence
        self._deadline = self._end + wait
        self.state = EotState.WAITING
        return self._tick(now, "")

    def _tick(self, now: float, text: str) -> TurnDecision | None:
        if now < self._deadline:
            return None
        decision = TurnDecision(" ".join(self._texts), self._end, now, self._finished)
        self._texts = []
        self.state = EotState.IDLE
        return decision


# ---------------------------------------------------------------- barge-in


class BargeState(enum.Enum):
    QUIET = "quiet"
    ONSET = "onset"  # user speech going on, not long enough yet
    CHECKING = "checking"  # long enough: its words are being looked at
    HELD = "held"  # judged a backchannel
    FIRED = "fired"  # interrupt sent; stays until the agent stops speaking


class BargeAction(enum.Enum):
    NONE = "none"
    CHECK = "check"  # transcribe the onset and call resolve()
    FIRE = "fire"  # publish the interrupt now


class BargeIn:
    def __init__(self, config: TurnConfig | None = None, can_check: bool = True) -> None:
        self.config = config or TurnConfig()
        self.can_check = can_check and self.config.check_words
        self.state = BargeState.QUIET
        self.onset = 0.0
        self.run_start = 0.0  # start of the current unbroken run of user speech
        self._last_speech = 0.0
        self._check_at = 0.0
        self._rechecked = False
        B = BargeState
        self._table: dict[tuple[BargeState, bool], Callable[[float, float], BargeAction]] = {
            (B.QUIET, False): self._none,
            (B.QUIET, True): self._begin,
            (B.ONSET, True): self._grow,
            (B.ONSET, False): self._dip,
            (B.CHECKING, True): self._none,
            (B.CHECKING, False): self._none,
            (B.HELD, True): self._held_grow,
            (B.HELD, False): self._held_dip,
            (B.FIRED, True): self._none,
            (B.FIRED, False): self._none,
        }

    def frame(self, t: float, t_end: float, user_speech: bool) -> BargeAction:
        """One input frame [t, t_end) and whether it holds user speech (not echo)."""
        if user_speech:
            if t_end - self._last_speech > FRAME_GAP:
                self.run_start = t  # speech resumes after a dip
            self._last_speech = t_end
        return self._table[(self.state, user_speech)](t, t_end)

    def resolve(self, backchannel: bool | None, t_end: float = 0.0) -> BargeAction:
        """The words of the onset are in: a backchannel, speech, or ``None`` when there was
        nothing telling yet (look again ``recheck`` later while that is before ``decide_by``
        from the onset — at least once; a blank at the last look is a hum)."""
        if self.state is not BargeState.CHECKING:
            return BargeAction.NONE
        again = t_end + self.config.recheck
        if backchannel is None and (not self._rechecked or again <= self.onset + self.config.decide_by + 1e-9):
            self._rechecked = True
            self._check_at = again
            self.state = BargeState.ONSET
            return BargeAction.NONE
        if backchannel is None or backchannel:
            self.state = BargeState.HELD
            self._check_at = max(t_end, self.onset + self.config.barge_in) + self.config.held_recheck
            return BargeAction.NONE
        return self._fire()

    def reset(self) -> None:
        """The agent stopped speaking."""
        self.state = BargeState.QUIET

    def _none(self, t: float, t_end: float) -> BargeAction:
        return BargeAction.NONE

    def _begin(self, t: float, t_end: float) -> BargeAction:
        self.state = BargeState.ONSET
        self.onset = t
        self._check_at = t + self.config.barge_in
        self._rechecked = False
        return self._grow(t, t_end)

    def _grow(self, t: float, t_end: float) -> BargeAction:
        if t_end + 1e-9 < self._check_at:
            return BargeAction.NONE
        if self.can_check:
            self.state = BargeState.CHECKING
            return BargeAction.CHECK
        return self._fire()

    def _dip(self, t: float, t_end: float) -> BargeAction:
        # a word that ends before ``barge_in`` is whole: the best moment to hear what it was
        if self.can_check and not self._rechecked and self._last_speech - self.onset >= self.config.word_min \
                and abs(self._last_speech - t) < 1e-6:
            self._rechecked = True
            self.state = BargeState.CHECKING
            return BargeAction.CHECK
        if t_end - self._last_speech > self.config.barge_in_gap:
            self.state = BargeState.QUIET
        return BargeAction.NONE

    def _held_grow(self, t: float, t_end: float) -> BargeAction:
        if t_end - self.onset >= self.config.backchannel_max:
            return self._fire()
        # it goes on: look at what follows once that has run ``barge_in`` on its own (the "hm"
        # of "mm-hm" is a second short burst, "yeah, but I think" runs on)
        if self.can_check and t_end + 1e-9 >= self._check_at and \
                t_end - self.run_start + 1e-9 >= self.config.barge_in:
            self._rechecked = True
            self.state = BargeState.CHECKING
            return BargeAction.CHECK
        return BargeAction.NONE

    def _held_dip(self, t: float, t_end: float) -> BargeAction:
        if t_end - self._last_speech > self.config.backchannel_gap:
            self.state = BargeState.QUIET
        return BargeAction.NONE

    def _fire(self) -> BargeAction:
        self.state = BargeState.FIRED
        return BargeAction.FIRE
