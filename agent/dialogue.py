"""Emotion-conditioned dialogue: the emotion is chosen first, then the LLM writes the reply for it.

The emotion is the transition's (``agent.understanding``), never a guess from the reply. The
prompt carries the persona's system prompt and language, recent history, the chosen emotion
(label, intensity, VAD in words) and the user's non-verbal cues as text. History keeps only
what the user actually heard (``commit`` after playback), so a barge-in never puts words the
user did not hear into the agent's memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator

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


class Dialogue:
    """One conversation's dialogue state for one persona."""

    def __init__(self, persona: Persona, llm: LLM, history_turns: int = 6) -> None:
        self.persona = persona
        self.llm = llm
        self.history: deque[tuple[str, str]] = deque(maxlen=max(1, history_turns))

    @property
    def last_reply(self) -> str:
        return self.history[-1][1] if self.history else ""

    def messages(self, user_text: str, emotion: Emotion, affect: FusedAffect | None) -> list[Message]:
        """The prompt: persona, language, chosen emotion, the user's cues, history, the new turn."""
        p = self.persona
        language = _LANGUAGES.get(p.language.split("-")[0], p.language)
        system = [p.system_prompt.strip(), f"Always answer in {language}."]
        system.append(f"Right now you feel {emotion_in_words(emotion)}. Let that feeling show in "
                      f"your wording and tone; do not name the emotion or describe yourself.")
        if affect is not None and affect.confidence > 0.0 and affect.cues:
            system.append(f"What you notice about the user (not said aloud): {affect.cues}.")
        out = [Message("system", " ".join(system))]
        for user, reply in self.history:
            if user:  # the greeting opens the history with no user turn
                out.append(Message("user", user))
            if reply:
                out.append(Message("assistant", reply))
        out.append(Message("user", user_text))
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
        """Remember the turn: the user's words and only the part of the reply that was heard."""
        self.history.append((user_text, heard_reply.strip()))
