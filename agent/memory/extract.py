"""Facts worth remembering, from what the user says.

Two extractors with one output (``Draft``: a third-person note, its kind, the detail a greeting
can use, the user's words, its MiniLM vector):

- ``RuleExtractor``, for the embedded base model (which cannot be trusted to summarise): the
  user's sentence is split into clauses; a clause that is a first-person statement (not a
  question) is kept when a rule knows it (a name, an upcoming event) or when its nearest
  prototype in MiniLM space is something people tell to be remembered (a goal, a difficulty,
  a person, a liking, who they are) rather than small talk. It is rewritten in the third person.
- ``LLMExtractor``, for a chat model: the model writes the notes; the same rules and
  prototypes give them a kind and a detail.

English only: the rules and MiniLM are English.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence

import numpy as np

from agent.core.stages import LLM, Message
from agent.memory.store import Draft

Embed = Callable[[Sequence[str]], np.ndarray]

MAX_FACTS = 3  # per turn: a monologue is not a list of facts
MIN_WORDS, MAX_WORDS = 3, 30

# Examples of what people tell so that it is remembered, and of small talk. A clause belongs to
# the kind of its most similar example; below MEMORABLE it is not memorable at all.
PROTOTYPES: dict[str, tuple[str, ...]] = {
    "goal": ("I want to pass my exam", "My goal is to run a marathon", "I'm trying to learn Spanish",
             "I hope to get into medical school", "I'm saving up for a car"),
    "difficulty": ("I find fractions really hard", "I struggle with writing essays",
                   "Chemistry is difficult for me", "I'm bad at remembering formulas",
                   "I keep failing my driving test", "I get nervous when I speak in public"),
    "event": ("I have a job interview tomorrow", "My exam is next week", "I'm moving house on Saturday",
              "I have a doctor's appointment on Monday", "We have a match this weekend"),
    "person": ("My sister is called Ana", "My dog is sick", "My best friend moved away",
               "My mum is a nurse", "My grandfather taught me chess"),
    "preference": ("I love playing football", "I really like jazz", "I hate mornings",
                   "My favourite subject is biology", "I enjoy drawing"),
    "about": ("I'm a nurse", "I study computer science", "I live in Leeds", "I work at a bakery",
              "I'm fifteen years old", "I'm in my last year of school"),
    "chat": ("I'm fine, thanks", "I don't know", "I think so", "I see", "OK, let's do it", "I'm good",
             "I agree with you", "I guess so", "I'm not sure", "I'm ready", "Tell me more",
             "Can you help me", "Explain that to me again", "I didn't get that", "Let me think",
             "I have a question", "I want to ask you something", "I'm back", "I like that idea",
             "I'm a bit tired today", "My head hurts", "I think the answer is five", "I made a mistake"),
}
# MiniLM cosine to the nearest example: lasting facts score 0.34-0.72 on examples they are not
# among, answers to an exercise ("I'd say photosynthesis") 0.23-0.28 (tests/test_memory_extract.py)
MEMORABLE = 0.33

_EVENTS = ("exam|exams|test|quiz|interview|appointment|presentation|match|game|race|recital|concert|"
           "deadline|meeting|trip|operation|surgery|audition|party|wedding|competition|tournament|"
           "essay|assignment|project|final|finals|mock|driving test|date")
_EVENT_RULES = (
    re.compile(rf"\b(?:have|has|had|'ve got|got|got a|'ve)\s+(?:a|an|my|the|this|that|another|their)\s+"
               rf"((?:[\w-]+\s+){{0,3}}?(?:{_EVENTS}))\b", re.I),
    re.compile(rf"\b(?:my|their|the user's)\s+((?:[\w-]+\s+){{0,3}}?(?:{_EVENTS}))\s+(?:is|was|will be)\b", re.I),
)
_NAME_RULES = (
    re.compile(r"\b(?:my|the user's) name(?:'s| is)\s+([A-Za-z][\w'-]*)", re.I),
    re.compile(r"\b(?:call me|i'm called|i am called)\s+([A-Za-z][\w'-]*)", re.I),
    re.compile(r"^(?i:(?:hi|hello|hey)\W+)?(?i:i'?m)\s+([A-Z][a-z'-]+)\b"),  # "Hi, I'm Sam": capitalised
)
_NOT_NAMES = {"fine", "good", "ok", "okay", "not", "so", "sorry", "really", "just", "here", "back", "ready",
              "sure", "tired", "happy", "sad", "done", "going", "trying", "a", "the", "very", "also"}
_QUESTION_START = re.compile(r"^(?:what|why|how|when|where|who|whom|which|do|does|did|can|could|would|will|"
                             r"is|are|was|were|should|shall|may|have you|has)\b", re.I)
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|i'll|i'd|me|my|mine|myself)\b", re.I)
# a new first-person statement after "and"/"but" is a clause of its own ("because", "so" stay:
# the reason belongs to its statement)
_CLAUSE_SPLIT = re.compile(r"(?<=[.!?;])\s+|,?\s+\b(?:and|but)\s+(?=(?:i|i'm|i've|i'll|i'd|my)\b)", re.I)


def clauses(text: str) -> list[str]:
    """Sentences, and within them clauses that start a new first-person statement."""
    out = []
    for part in _CLAUSE_SPLIT.split(text.strip()):
        part = part.strip()
        if part:
            out.append(part)
    return out


def is_question(clause: str) -> bool:
    return clause.rstrip().endswith("?") or bool(_QUESTION_START.match(clause.strip()))


def name_in(text: str) -> str | None:
    for rule in _NAME_RULES:
        m = rule.search(text.strip())
        if m and m.group(1).casefold() not in _NOT_NAMES:
            return m.group(1)[:1].upper() + m.group(1)[1:]
    return None


def event_in(text: str) -> str | None:
    """``"chemistry exam"`` from "I have a chemistry exam on Friday"."""
    for rule in _EVENT_RULES:
        m = rule.search(text)
        if m:
            return " ".join(m.group(1).split()).lower()
    return None


# ---------------------------------------------------------------------------- first → third person

_MODALS = {"can", "could", "will", "would", "shall", "should", "may", "might", "must", "can't", "couldn't",
           "won't", "wouldn't", "shouldn't", "mustn't", "had", "was", "did", "didn't", "wasn't", "used"}
_PAST = {"got", "went", "made", "took", "saw", "came", "felt", "left", "lost", "won", "began", "broke",
         "bought", "thought", "told", "said", "met", "ran", "wrote", "gave", "knew", "found", "kept",
         "forgot", "fell", "heard", "paid", "sent", "spent", "taught", "understood", "became", "chose"}
_ADVERBS = {"really", "also", "just", "still", "always", "never", "often", "usually", "actually",
            "sometimes", "only", "even", "already", "probably", "totally", "kind", "sort", "honestly"}
_IRREGULAR = {"am": "is", "have": "has", "do": "does", "don't": "doesn't", "haven't": "hasn't",
              "'m": "is", "go": "goes", "be": "is"}
_CONTRACTIONS = {"i'm": ("is", "are"), "i've": ("has", "have"), "i'll": ("will", "will"), "i'd": ("would", "would")}
_OBJECT = {"me": "them", "my": "their", "mine": "theirs", "myself": "themselves"}


def _third_singular(verb: str) -> str:
    low = verb.lower()
    if low in _IRREGULAR:
        return _IRREGULAR[low]
    if low in _MODALS or low in _PAST or low.endswith("ed") or "'" in low or not low.isalpha():
        return verb
    if low.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if low.endswith("y") and len(low) > 1 and low[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def third_person(clause: str) -> str:
    """The user's first-person clause as a note about them: "I find chemistry hard" → "The user
    finds chemistry hard." The first mention is "the user", later ones "they"."""
    words = clause.strip().rstrip(".!;,").replace("’", "'").split()
    out: list[str] = []
    named = False  # "the user" said once already
    i = 0
    while i < len(words):
        w = words[i]
        core = w.rstrip(",;:")
        low, tail = core.lower(), w[len(core):]
        if low == "i":
            subject = "they" if named else "the user"
            out.append(subject + tail)
            j = i + 1
            while j < len(words) and words[j].lower() in _ADVERBS:
                out.append(words[j])
                j += 1
            if j < len(words) and not tail:
                verb = words[j]
                if named:
                    verb = {"am": "are", "was": "were"}.get(verb.lower(), verb)
                else:
                    verb = _third_singular(verb) if verb.lower() != "was" else verb
                out.append(verb)
                j += 1
            named = True
            i = j
            continue
        if low in _CONTRACTIONS:
            out.append(("they " + _CONTRACTIONS[low][1]) if named else ("the user " + _CONTRACTIONS[low][0]))
            out[-1] += tail
            named = True
        elif low in ("my", "me") and not named:
            out.append(("the user's" if low == "my" else "the user") + tail)
            named = True
        elif low in _OBJECT:
            out.append(_OBJECT[low] + tail)
        else:
            out.append(w)
        i += 1
    text = " ".join(out)
    return text[:1].upper() + text[1:] + "."


# ---------------------------------------------------------------------------- kinds

class Kinds:
    """The nearest prototype's kind, by MiniLM cosine (the examples embedded once per process)."""

    _shared: dict[Embed, tuple[list[str], np.ndarray]] = {}
    _lock = threading.Lock()

    def __init__(self, embed: Embed) -> None:
        self.embed = embed

    def _examples(self) -> tuple[list[str], np.ndarray]:
        with self._lock:
            if self.embed not in self._shared:
                kinds = [k for k, texts in PROTOTYPES.items() for _ in texts]
                self._shared[self.embed] = (kinds, self.embed([t for texts in PROTOTYPES.values() for t in texts]))
            return self._shared[self.embed]

    def warm(self) -> None:
        self._examples()

    def of(self, vectors: np.ndarray) -> list[tuple[str, float]]:
        kinds, examples = self._examples()
        sims = vectors @ examples.T
        return [(kinds[int(np.argmax(row))], float(row.max())) for row in sims]


def _draft(kind: str, note: str, source: str, vector: np.ndarray) -> Draft:
    value = name_in(note) if kind == "name" else event_in(note) if kind == "event" else None
    return Draft(kind, note, value, source, vector)


class RuleExtractor:
    """Blocking (MiniLM): run it in the memory worker."""

    def __init__(self, embed: Embed) -> None:
        self.embed = embed
        self.kinds = Kinds(embed)

    def extract(self, text: str) -> list[Draft]:
        statements = [c for c in clauses(text) if not is_question(c) and _FIRST_PERSON.search(c)
                      and MIN_WORDS <= len(c.split()) <= MAX_WORDS]
        if not statements:
            return []
        notes, ruled = [], []
        for c in statements:
            name = name_in(c)
            notes.append(f"The user's name is {name}." if name else third_person(c))
            ruled.append("name" if name else "event" if event_in(c) else None)
        both = self.embed(notes + statements)  # one MiniLM batch
        vectors, said = both[:len(notes)], both[len(notes):]
        out = []
        for note, rule, vector, (kind, sim) in zip(notes, ruled, vectors, self.kinds.of(said)):
            if rule is None and (kind == "chat" or sim < MEMORABLE):
                continue
            out.append(_draft(rule or kind, note, text.strip(), vector))
        return out[:MAX_FACTS]


EXTRACT_PROMPT = (
    "You keep notes about a user so that you can remember them in later conversations. From the "
    "user's message below, write each lasting fact worth remembering (their name, goals, plans and "
    "dates, what they find hard, people and things they care about, who they are) on its own line, "
    "in English, in the third person, starting with \"The user\". Do not note questions, greetings "
    "or small talk. If there is nothing to remember, write NONE.")


class LLMExtractor:
    """A chat model writes the notes; ``drafts`` (blocking) gives them kinds and vectors."""

    def __init__(self, llm: LLM, embed: Embed, max_tokens: int = 96) -> None:
        self.llm, self.embed, self.max_tokens = llm, embed, max_tokens
        self.kinds = Kinds(embed)

    async def notes(self, text: str) -> list[str]:
        messages = [Message("system", EXTRACT_PROMPT), Message("user", text)]
        reply = "".join([d async for d in self.llm.stream(messages, max_tokens=self.max_tokens)])
        return parse_notes(reply)

    def drafts(self, notes: Sequence[str], source: str) -> list[Draft]:
        if not notes:
            return []
        vectors = self.embed(list(notes))
        out = []
        for note, vector, (kind, _) in zip(notes, vectors, self.kinds.of(vectors)):
            rule = "name" if name_in(note) else "event" if event_in(note) else None
            out.append(_draft(rule or ("about" if kind == "chat" else kind), note, source.strip(), vector))
        return out[:MAX_FACTS]


def parse_notes(reply: str) -> list[str]:
    """The model's lines as notes: bullets and numbering dropped, NONE and chatter left out."""
    out = []
    for line in reply.splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip()
        if not line or line.upper().startswith("NONE") or not line.lower().startswith(("the user", "user")):
            continue
        if MIN_WORDS <= len(line.split()) <= MAX_WORDS * 2:
            out.append(line if line.endswith(".") else line + ".")
    return out[:MAX_FACTS]
