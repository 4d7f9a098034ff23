"""Turn chat messages into a completion prompt a *base* model continues as the persona.

A base model (the bundled Gemma 3 270M) has no chat template: it continues text. Shown a short
made-up dialogue in which the persona answers in one or two sentences, then the real history,
then "<Persona>:", it writes the persona's next line. One line per turn, so a newline or the
next speaker tag ends the reply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agent.core.stages import Message

_SPACES = re.compile(r"[ \t]+")


@dataclass(frozen=True, slots=True)
class Script:
    """The made-up opening of the transcript, in one language (a base model answers in the
    language of the text it continues, whatever the system prompt says)."""

    user: str
    intro: str  # formatted with user= and persona=
    examples: tuple[tuple[str, str], ...]


SCRIPTS: dict[str, Script] = {
    "en": Script(
        user="User",
        intro="The following is a friendly conversation between {user} and {persona}.",
        examples=(
            ("Hello there.", "Hello! It's nice to meet you. What would you like to talk about?"),
            ("Could you help me with my homework?", "Of course, I'd be glad to help. Which part are you stuck on?"),
            ("I'm feeling a bit tired today.",
             "I'm sorry to hear that. Let's take it slowly, one small step at a time."),
            ("What is the capital of France?", "The capital of France is Paris."),
        ),
    ),
    "es": Script(
        user="Usuario",
        intro="La siguiente es una conversación amable en español entre {user} y {persona}.",
        examples=(
            ("Hola.", "¡Hola! Encantada de conocerte. ¿De qué te gustaría hablar?"),
            ("¿Me ayudas con los deberes?", "Claro, con mucho gusto. ¿En qué parte te has atascado?"),
            ("Hoy estoy un poco cansado.", "Vaya, lo siento. Vamos despacio, paso a paso."),
            ("¿Cuál es la capital de Francia?", "La capital de Francia es París."),
        ),
    ),
}  # fmt: skip
USER_TAG = SCRIPTS["en"].user


def script_for(language: str) -> Script:
    """The script for a language code ("es", "es-MX"); English when there is none."""
    return SCRIPTS.get(language.split("-")[0].lower(), SCRIPTS["en"])


def speaker_tag(persona_name: str) -> str:
    """The persona's tag in the transcript: its name on one line, without colons."""
    tag = " ".join(persona_name.replace(":", " ").split())
    return tag or "Assistant"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def header(system: str, tag: str, script: Script) -> str:
    """The fixed part of the prompt (persona description and examples).

    It comes first and stays the same from turn to turn (nothing per turn is in ``system``), so
    llama.cpp reuses its KV cache and only the new turn costs prompt time.
    """
    intro = script.intro.format(user=script.user, persona=tag)
    lines = [f"{intro} {_one_line(system)}".rstrip(), ""]
    for question, answer in script.examples:
        lines += [f"{script.user}: {question}", f"{tag}: {answer}"]
    return "\n".join(lines) + "\n"


def build_prompt(messages: Sequence[Message], persona_name: str, language: str = "en") -> str:
    """The whole completion prompt: the header (the leading system text), the history one line
    per turn, then the persona's tag.

    A later system message (a turn's note: the chosen emotion, the user's cues) is left out: a
    270M base model reads it as dialogue to continue — asides in brackets, in the second person
    or the third, made it repeat one answer turn after turn (8 of 8 replies alike on the latency
    bench's questions, against 2 of 8 without). Chat models get the notes (``notes_into_user``);
    for the stand-in, the voice and the face carry the emotion."""
    tag, script = speaker_tag(persona_name), script_for(language)
    lead = 0
    while lead < len(messages) and messages[lead].role == "system":
        lead += 1
    system = " ".join(m.content for m in messages[:lead])
    lines = [f"{script.user if m.role == 'user' else tag}: {_one_line(m.content)}"
             for m in messages[lead:] if m.role != "system" and m.content.strip()]
    return header(system, tag, script) + "".join(line + "\n" for line in lines) + f"{tag}:"


def stop_strings(persona_name: str, language: str = "en") -> list[str]:
    """Where the persona's line ends: a line break or another speaker starting inline."""
    return ["\n", f"{script_for(language).user}:", f"{speaker_tag(persona_name)}:"]


class ReplyCleaner:
    """Strips what a base model leaves around a reply, delta by delta.

    Leading blanks and markdown emphasis go, runs of spaces become one, and trailing blanks are
    held back until more text follows them, so the stream never ends on blanks.
    """

    def __init__(self) -> None:
        self._started = False
        self._pending = ""

    def feed(self, delta: str) -> str:
        text = _SPACES.sub(" ", delta.replace("*", "").replace("\r", ""))
        if not self._started:
            text = text.lstrip()
            if not text:
                return ""
            self._started = True
        text = _SPACES.sub(" ", self._pending + text)
        body = text.rstrip()
        self._pending = text[len(body) :]
        return body
