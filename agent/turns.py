"""Turn-taking on the user's side: when has the user finished, and when do they take the turn.

Two small machines, each a table of (state, input) → action, fed on the *input* audio clock so
that their timing is the same in a test, from a file and live:

* ``EndOfTurnDetector``: the end of a turn comes from VAD silence plus the transcript. A
  question or finished sentence ends the turn after ``finished_silence`` (250 ms); a fragment
  ("so I was thinking that", "um") waits ``unfinished_silence`` (700 ms) for more, and speech
  that resumes in time continues the same turn.
* ``BargeIn``: while the agent speaks, user speech (already cleared of the agent's echo)
  sustained for ``barge_in`` seconds fires an interrupt — unless a look at its onset says it is
  a backchannel ("uh-huh", "yeah", "mm-hm"; ``perception.backchannel``), which is held, looked
  at again by its words if it goes on ("yeah, but ..."), and interrupts past ``backchannel_max``.
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
    "yeah", "yes", "yep", "yup", "ok", "okay", "right", "all right", "alright", "sure", "aha", "i see",
    "got it", "cool", "nice", "wow", "exactly", "true",
})
# sounds that hold no words: alone, they are not a turn either
FILLERS = frozenset({"uh", "um", "er", "erm", "ah", "oh", "hm", "hmm", "mm", "huh"})
# a word that, even alone, asks the agent to stop and listen
STOP_WORDS = frozenset({"wait", "stop", "no", "nope", "sorry", "hold", "hang", "hey", "what", "why", "how",
                        "but", "actually", "excuse", "pardon", "listen", "look", "please", "enough"})
# a question's first word: an utterance over the agent that opens with one is the user taking the
# turn ("Can I ask...", "Do you mean..."), whatever the sound of its first 200 ms resembled
QUESTION_OPENERS = frozenset({"can", "could", "would", "will", "do", "does", "did", "is", "are", "should",
                              "what", "why", "how", "where", "who", "when", "which"})
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
    """Repeats collapsed: on a short clip greedy Whisper loops ("Yeah. Yeah. Yeah.", "I see. I see.
    I see", "Let me stop you there. Let me stop") — a word or a phrase said again and again, the
    last time perhaps cut short."""
    for n in range(1, len(words) // 2 + 1):  # a phrase said at least twice
        head = words[:n]
        if all(w == head[i % n] for i, w in enumerate(words)):
            return head
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


def calls_to_stop(text: str) -> bool:
    """The first words of an onset ask the agent to stop and listen: a stop word ("Wait",
    "Sorry", "No") or a question (its opening word, or its question mark)."""
    words = words_of(text)
    return bool(words) and (words[0] in STOP_WORDS | QUESTION_OPENERS
                            or text.rstrip().endswith("?") and not is_backchannel(text))


def held_look(text: str) -> Look:
    """What the words that follow a held acknowledgement say. Words that are not one ("yeah,
    but I think") pause the agent rather than interrupt it: a fifth of a second after the
    acknowledgement, Whisper may be guessing at its last sound or at the echo ("run run",
    "Let's keep it" after "right"), and the whole utterance's words decide soon after."""
    look = Look.of_words(onset_verdict(text))
    return Look.UNSURE if look is Look.TURN else look


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


def trails_off(text: str) -> bool:
    """The words themselves promise more: a comma, a dash, an ellipsis, a connective at the end."""
    text = text.strip()
    words = words_of(text)
    return text.endswith(("...", "…", ",", "-", ";", ":")) or bool(words) and words[-1] in _FILLER_END


def turn_finished(text: str, sounds: float | None, config: TurnConfig) -> bool:
    """Has the user finished, by the words and by how they sounded? Words that trail off ("and",
    "so I was thinking that,") never end the turn; otherwise the sound decides when it is sure
    (a question Whisper wrote without its "?" is finished, a fragment it closed with a full stop
    is not), and the punctuation when it is not."""
    if trails_off(text):
        return False
    if sounds is not None and sounds >= config.sounds_finished:
        return True
    if sounds is not None and sounds <= config.sounds_unfinished:
        return False
    return sentence_finished(text)


FRAME_GAP = 0.04  # more than a frame (32 ms) between speech frames: the speech broke off


@dataclass(frozen=True)
class TurnConfig:
    finished_silence: float = 0.25  # seconds of silence after a finished sentence or question
    sounds_finished: float = 0.5  # Smart Turn's probability above which an utterance sounds finished
    sounds_unfinished: float = 0.1  # ... and below which it sounds unfinished, whatever the punctuation
    unfinished_silence: float = 0.70  # after a fragment
    barge_in: float = 0.18  # sustained user speech before its first look (from the first sign of the voice)
    # a dip shorter than this (between syllables, or the agent's echo masking one) keeps the onset
    barge_in_gap: float = 0.2
    word_min: float = 0.128  # a short word over the agent ("Wait," "No,") is looked at when it ends
    dip_look_voiced: float = 0.09  # an onset heard this long is looked at on time even in a dip
    backchannel_max: float = 1.0  # a held backchannel that goes on this long interrupts after all
    backchannel_gap: float = 0.30  # silence that ends a held backchannel
    lone_word_max: float = 0.5  # a paused utterance of one word no longer than this is no turn,
    short_utterance: float = 0.25  # nor one of any words no longer than this (unless it calls to stop)
    check_words: bool = True  # look at the onset's words before interrupting
    held_recheck: float = 0.3  # a held backchannel that goes on is looked at again this much later
    held_pause_after: float = 0.36  # a held onset still going this long after it began pauses the agent ...
    held_pause_share: float = 0.85  # ... if it was speech for this share of that time (the gate may drop a frame)
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
    """Transcripts come in after their utterance ended, perhaps after the next one began (Whisper
    reads an utterance while the user goes on): the turn waits for the words of every utterance
    that ended, and for the silence they call for after the last one."""

    def __init__(self, config: TurnConfig | None = None) -> None:
        self.config = config or TurnConfig()
        self.state = EotState.IDLE
        self._texts: list[str] = []
        self._end = 0.0
        self._deadline = 0.0
        self._finished = False
        self._cut_in = False
        self._pending = 0  # utterances that ended and whose words are not in yet
        self._sounds: float | None = None
        S = EotState
        self._table: dict[tuple[EotState, str], Callable[[float, str], TurnDecision | None]] = {
            (S.IDLE, "start"): self._start,
            (S.SPEAKING, "start"): self._ignore,
            (S.TRANSCRIBING, "start"): self._start,
            (S.WAITING, "start"): self._start,
            (S.SPEAKING, "end"): self._ended,
            (S.SPEAKING, "words"): self._words_while_speaking,  # an earlier utterance's words
            (S.TRANSCRIBING, "words"): self._words,
            (S.WAITING, "words"): self._words,
            (S.WAITING, "tick"): self._tick,
        }

    def speech_started(self, t: float) -> None:
        self._on("start", t)

    def speech_ended(self, t: float) -> None:
        self._on("end", t)

    def transcript(self, text: str, now: float, *, cut_in: bool = False,
                   sounds_finished: float | None = None) -> TurnDecision | None:
        """The words of the utterance that ended; ``cut_in``: it stopped the agent, and a word or
        two that did that ("Wait," "Sorry,") is usually followed by what the user wants.
        ``sounds_finished``: the probability that the utterance sounds like a finished turn
        (perception.turn_end), or None."""
        self._cut_in = cut_in
        self._sounds = sounds_finished
        return self._on("words", now, text)

    def tick(self, now: float) -> TurnDecision | None:
        return self._on("tick", now)

    @property
    def likely(self) -> str | None:
        """The words of a turn that ends unless speech resumes (waiting out its silence)."""
        return " ".join(self._texts) if self.state is EotState.WAITING and self._texts else None

    def _on(self, what: str, t: float, text: str = "") -> TurnDecision | None:
        handler = self._table.get((self.state, what))
        return handler(t, text) if handler is not None else None

    def _ignore(self, t: float, text: str) -> None:
        return None

    def _start(self, t: float, text: str) -> None:
        self.state = EotState.SPEAKING

    def _ended(self, t: float, text: str) -> None:
        self._end = t
        self._pending += 1
        self.state = EotState.TRANSCRIBING

    def _add(self, text: str) -> None:
        self._pending = max(0, self._pending - 1)
        if text.strip():
            self._texts.append(text.strip())
            last = self._texts[-1]
            finished = turn_finished(last, self._sounds, self.config)
            self._finished = finished and not (self._cut_in and len(words_of(last)) <= 2)

    def _words_while_speaking(self, now: float, text: str) -> None:
        self._add(text)

    def _words(self, now: float, text: str) -> TurnDecision | None:
        self._add(text)
        if self._pending:
            return None
        if not self._texts:  # noise that transcribed to nothing: no turn
            self.state = EotState.IDLE
            return None
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
    PAUSED = "paused"  # could not tell in time: the agent is quiet until the words decide
    FIRED = "fired"  # interrupt sent; stays until the agent stops speaking


class BargeAction(enum.Enum):
    NONE = "none"
    CHECK = "check"  # look at the onset and call resolve()
    FIRE = "fire"  # publish the interrupt now
    PAUSE = "pause"  # make the agent go quiet, keeping its reply
    RESUME = "resume"  # it was an acknowledgement: the agent goes on


class Look(enum.Enum):
    """What a look at an onset says."""

    ACK = "ack"  # an acknowledgement: held, the agent goes on talking
    TURN = "turn"  # the user is taking the turn: interrupt
    UNSURE = "unsure"  # cannot tell by the deadline: pause the agent, the words decide
    NOT_YET = "not yet"  # nothing telling yet: look again (still nothing at the end is a hum)

    @classmethod
    def of_words(cls, verdict: bool | None) -> Look:
        """``onset_verdict``'s answer as a look."""
        return cls.NOT_YET if verdict is None else cls.ACK if verdict else cls.TURN


class BargeIn:
    def __init__(self, config: TurnConfig | None = None, can_check: bool = True) -> None:
        self.config = config or TurnConfig()
        self.can_check = can_check and self.config.check_words
        self.state = BargeState.QUIET
        self.onset = 0.0
        # the first sign of the onset's voice: the onset, or a frame the echo explained nothing of
        # just before it (a plain "s" the VAD let pass). The first look and the deadline run from it
        self.first_sign = 0.0
        self.run_start = 0.0  # start of the current unbroken run of user speech
        self._last_speech = 0.0
        self._check_at = 0.0
        self._rechecked = False
        self._lead = 0.0
        self._heard_before = 0.0
        self._voiced = 0.0  # seconds of user speech since the onset
        self._masked = 0.0  # ... and of speech the echo gate was unsure of (HeardFrame.masked)
        self._masked_now = False  # the frame in hand is such speech
        # the look under way is ahead of its time: before ``barge_in`` after the VAD's onset (it is
        # due that long after the first sign of the voice, a plain "s" the VAD let pass), or in a
        # dip that only the speech the echo gate was unsure of makes long enough. Only a clear
        # turn is decided that soon; else it is looked at again on time
        self.ahead = False
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
            (B.PAUSED, True): self._paused_grow,
            (B.PAUSED, False): self._none,
            (B.FIRED, True): self._none,
            (B.FIRED, False): self._none,
        }

    def frame(self, t: float, t_end: float, user_speech: bool, lead: float = 0.0,
              heard_before: float = 0.0, masked: bool = False) -> BargeAction:
        """One input frame [t, t_end) and whether it holds user speech (not echo); ``lead``: the
        speech already began that long before it (a quiet "s" or "h" the VAD let pass);
        ``heard_before``: a voice the echo explained nothing of was heard that long before it (the
        first look is due ``barge_in`` after it); ``masked``: speech the echo gate was unsure of,
        which counts towards a look in a dip (``perception.hearing.HeardFrame``)."""
        self._lead = lead
        self._heard_before = heard_before
        self._masked_now = masked and not user_speech
        if self._masked_now:
            self._masked += t_end - t
        if user_speech:
            self._voiced += t_end - t
            if t_end - self._last_speech > FRAME_GAP:
                self.run_start = t  # speech resumes after a dip
            self._last_speech = t_end
        return self._table[(self.state, user_speech)](t, t_end)

    def resolve(self, look: Look, t_end: float = 0.0) -> BargeAction:
        """The look at the onset is in. ``NOT_YET`` looks again ``recheck`` later while that is
        before ``decide_by`` from the onset — at least once; still nothing at the last look is a
        hum, held. ``UNSURE`` pauses the agent until the words decide (``words``)."""
        if self.state is not BargeState.CHECKING:
            return BargeAction.NONE
        again = t_end + self.config.recheck
        ahead, self.ahead = self.ahead, False
        if ahead and look in (Look.NOT_YET, Look.ACK):  # look again, on time
            self._check_at = again
            self.state = BargeState.ONSET
            return BargeAction.NONE
        if look is Look.NOT_YET and (not self._rechecked or again <= self.onset + self.config.decide_by + 1e-9):
            self._rechecked = True
            self._check_at = again
            self.state = BargeState.ONSET
            return BargeAction.NONE
        if look in (Look.NOT_YET, Look.ACK):
            self.state = BargeState.HELD
            self._check_at = max(t_end, self.onset + self.config.barge_in) + self.config.held_recheck
            return BargeAction.NONE
        if look is Look.UNSURE:
            self.state = BargeState.PAUSED
            return BargeAction.PAUSE
        return self._fire()

    def words(self, text: str, duration: float) -> BargeAction:
        """The paused utterance (``duration`` seconds of speech) ended and these are its words:
        an acknowledgement, a lone "uh", nothing, or a word or two too short for a turn that are
        no call to stop (Whisper writes "Got." for a clipped "uh-huh") let the agent go on;
        anything else — a stop word ("Wait.", "So, I'm sorry"), a question, more words — takes
        the turn."""
        if self.state is not BargeState.PAUSED:
            return BargeAction.NONE
        words = _once(words_of(text))
        calls = any(w in STOP_WORDS for w in words) or text.rstrip().endswith("?")
        # Whisper fills a clip too short for a turn with words ("I'm going to be" for a fifth
        # of a second of "uh-huh"): only a call to stop is a turn that short
        short = duration <= self.config.lone_word_max and (len(words) == 1 or duration <= self.config.short_utterance)
        if is_backchannel(text) or all(w in FILLERS for w in words) or short and not calls:
            self.state = BargeState.QUIET
            return BargeAction.RESUME
        return self._fire()

    def reset(self) -> None:
        """The agent stopped speaking."""
        self.state = BargeState.QUIET

    def _none(self, t: float, t_end: float) -> BargeAction:
        return BargeAction.NONE

    def _begin(self, t: float, t_end: float) -> BargeAction:
        self.state = BargeState.ONSET
        self.onset = self.run_start = t - self._lead
        self._voiced = t_end - self.onset
        self._masked = 0.0
        self.first_sign = min(self.onset, t - self._heard_before)
        self._check_at = self.first_sign + self.config.barge_in
        self._rechecked = False
        return self._grow(t, t_end)

    def _grow(self, t: float, t_end: float) -> BargeAction:
        if t_end + 1e-9 < self._check_at:
            return BargeAction.NONE
        if self.can_check:
            return self._look(ahead=t_end + 1e-9 < self.onset + self.config.barge_in)
        return self._fire()

    def _look(self, ahead: bool = False) -> BargeAction:
        self.state = BargeState.CHECKING
        self.ahead = ahead
        return BargeAction.CHECK

    def _dip(self, t: float, t_end: float) -> BargeAction:
        # a word that ends before ``barge_in`` is whole: the best moment to hear what it was
        if self.can_check and not self._rechecked and self._last_speech - self.onset >= self.config.word_min \
                and abs(self._last_speech - t) < 1e-6:
            self._rechecked = True
            return self._look()
        # an onset heard long enough is looked at when its look is due, dip or not: a soft word
        # under loud echo ("Let me": the gate hears the "e" but loses the "t" and the "m") would
        # otherwise wait for the next loud syllable. What the gate was unsure of ("Can you": the
        # "n" and the "y") counts while the voice is still there, ahead of time
        heard = self._voiced + 1e-9 >= self.config.dip_look_voiced
        if self.can_check and not self._rechecked and t_end + 1e-9 >= self._check_at and (heard or (
                self._masked_now and self._voiced + self._masked + 1e-9 >= self.config.dip_look_voiced)):
            return self._look(ahead=not heard or t_end + 1e-9 < self.onset + self.config.barge_in)
        if t_end - self._last_speech > self.config.barge_in_gap:
            self.state = BargeState.QUIET
        return BargeAction.NONE

    def _held_grow(self, t: float, t_end: float) -> BargeAction:
        if t_end - self.onset >= self.config.backchannel_max:
            return self._fire()
        # held, but it runs on (near) unbroken past where acknowledgements end: more likely a turn
        # the look mistook ("Stop, ..."); the agent goes quiet and the words decide. Nearly: the
        # echo gate drops a frame or two of a user quieter than the echo; "mm-hm" has a real gap
        elapsed = t_end - self.onset
        if elapsed + 1e-9 >= self.config.held_pause_after and \
                self._voiced + 1e-9 >= self.config.held_pause_share * elapsed:
            self.state = BargeState.PAUSED
            return BargeAction.PAUSE
        # it goes on: look at what follows once that has run ``barge_in`` on its own (the "hm"
        # of "mm-hm" is a second short burst, "yeah, but I think" runs on)
        if self.can_check and t_end + 1e-9 >= self._check_at and \
                t_end - self.run_start + 1e-9 >= self.config.barge_in:
            self._rechecked = True
            self.state = BargeState.CHECKING
            return BargeAction.CHECK
        return BargeAction.NONE

    def _paused_grow(self, t: float, t_end: float) -> BargeAction:
        # an acknowledgement is over by now: the user is taking the turn
        return self._fire() if t_end - self.onset >= self.config.backchannel_max else BargeAction.NONE

    def _held_dip(self, t: float, t_end: float) -> BargeAction:
        if t_end - self._last_speech > self.config.backchannel_gap:
            self.state = BargeState.QUIET
        return BargeAction.NONE

    def _fire(self) -> BargeAction:
        self.state = BargeState.FIRED
        return BargeAction.FIRE
