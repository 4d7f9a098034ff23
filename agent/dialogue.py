"""Emotion-conditioned dialogue: the emotion is chosen first, then the LLM writes the reply for it.

The emotion is the transition's (``agent.understanding``), never a guess from the reply. The
prompt carries the persona's system prompt and language, recent history, the chosen emotion
(label, intensity, VAD in words) and the user's non-verbal cues as text. History keeps only
what the user actually heard (``commit`` after playback), so a barge-in never puts words the
user did not hear into the agent's memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from agent.core.affect import FusedAffect
from agent.core.stages import LLM, Message
from agent.llm.sentences import split_sentences
from persona.config import Persona
from persona.emotion import Emotion

_LANGUAGES = {"en": "English", "es": "Spanish", "fr": "French", "de": "German", "it": "Italian",
              "pt": "Portuguese", "nl": "Dutch", "ja": "Japanese", "zh": "Chinese"}


def _level(x: float, low: str, high: str) -> str:
    if abs(x) < 0.15:
        return ""
    degree = "very " if abs(x) > 0.6 else "" if abs(x) > 0.3 else "slightly "
    return degree + (high if x > 0 else low)


def emotion_in_words(emotion: Emotion) -> str:
    """``"joy (intensity 0.6): very pleasant, slightly energetic, in control"``."""
    v, a, d = emotion.vad
    parts = [p for p in (_level(v, "unpleasant", "pleasant"), _level(a, "calm", "energetic"),
                         _level(d, "submissive", "in control")) if p]
    feel = ", ".join(parts) or "even and relaxed"
    return f"{emotion.label} (intensity {emotion.intensity:.1f}): {feel}"


FIRST_CLAUSE_WORDS = 4


@dataclass(frozen=True, slots=True)
class Turn:
    """One exchange as the dialogue remembers it: the user's words, what the agent knew at that
    moment (its note), and the part of its reply the user heard."""

    user: str
    note: str
    reply: str


class Dialogue:
    """One conversation's dialogue state for one persona.

    The prompt is laid out for prefix caching (llama.cpp, Ollama and vLLM reuse a cached prefix):
    what is fixed for the session first (the persona, its language), then the history — each past
    turn with the note it had, unchanged — then the new turn and its note (the chosen emotion,
    the user's cues, what was recalled). Nothing that changes per turn sits above the history, so
    each turn costs only its own new tokens."""

    def __init__(self, persona: Persona, llm: LLM, history_turns: int = 24) -> None:
        self.persona = persona
        self.llm = llm
        self.history: deque[Turn] = deque()
        self.history_turns = max(1, history_turns)
        self._note = ""  # the note of the turn being answered

    @property
    def last_reply(self) -> str:
        return self.history[-1].reply if self.history else ""

    def system(self) -> str:
        """The fixed part: the persona's prompt and its language (the same every turn)."""
        p = self.persona
        language = _LANGUAGES.get(p.language.split("-")[0], p.language)
        return (f"{p.system_prompt.strip()} Always answer in {language}. Each turn comes with a note "
                f"of how you feel and what you notice, for you alone: let it show in your wording and "
                f"tone, never name it or read it out.")

    def note(self, emotion: Emotion, affect: FusedAffect | None, recalled: Sequence[str] = ()) -> str:
        """What changes each turn: the chosen emotion, the user's cues, what was recalled."""
        parts = [f"You feel {emotion_in_words(emotion)}."]
        if affect is not None and affect.confidence > 0.0 and affect.cues:
            parts.append(f"You notice: {affect.cues}.")
        if recalled:
            parts.append("You remember: " + "; ".join(r.strip().rstrip(".") for r in recalled) + ".")
        return " ".join(parts)

    def messages(self, user_text: str, emotion: Emotion, affect: FusedAffect | None,
                 recalled: Sequence[str] = ()) -> list[Message]:
        """The prompt: the fixed system text, the history with its notes, the new turn, its note."""
        out = [Message("system", self.system())]
        for turn in self.history:
            if turn.user:  # the greeting opens the history with no user turn
                out.append(Message("user", turn.user))
                if turn.note:
                    out.append(Message("system", turn.note))
            if turn.reply:
                out.append(Message("assistant", turn.reply))
        self._note = self.note(emotion, affect, recalled)
        out += [Message("user", user_text), Message("system", self._note)]
        return out

    async def stream_reply(self, user_text: str, emotion: Emotion,
                           affect: FusedAffect | None) -> AsyncIterator[str]:
        """The reply, sentence by sentence, as the LLM writes it."""
        async for sentence in self.stream(self.messages(user_text, emotion, affect)):
            yield sentence

    async def stream(self, messages: list[Message]) -> AsyncIterator[str]:
        """The LLM's reply to ``messages``, sentence by sentence."""
        deltas = self.llm.stream(messages, max_tokens=self.persona.llm.max_tokens)
        # the first clause is spoken as soon as it is written: speech starts sooner
        async for sentence in split_sentences(deltas, first_clause_words=FIRST_CLAUSE_WORDS):
            yield sentence

    async def reply(self, user_text: str, emotion: Emotion, affect: FusedAffect | None) -> str:
        """The whole reply as one string (for one-shot use such as ``agent chat --message``)."""
        return " ".join([s async for s in self.stream_reply(user_text, emotion, affect)])

    def commit(self, user_text: str, heard_reply: str) -> None:
        """Remember the turn: the user's words, its note, and only the part of the reply that
        was heard."""
        self.history.append(Turn(user_text, self._note if user_text else "", heard_reply.strip()))
        self._note = ""
        if len(self.history) > self.history_turns:
            # the older half goes at once: the prompt's cached prefix (llama.cpp, Ollama, vLLM)
            # then changes once every history_turns / 2 turns; dropping one turn at a time
            # changed it at every turn, and every turn re-read the whole history
            for _ in range(len(self.history) - self.history_turns // 2):
                self.history.popleft()
