"""Cut a stream of text deltas into sentences, so speech can start before the reply is done.

A sentence ends at a terminator (. ! ? … and their CJK forms) followed by whitespace and a word
that does not start in lower case, or at a line break. CJK terminators end a sentence at once
(CJK text puts no space after them). A single "." after a known abbreviation ("Mr.", "e.g.")
or an initial ("J.") does not end one, and neither does a "." inside a number ("3.5") or an
ellipsis followed by a lower-case word ("well... maybe"). Deciding needs the next word, so a
sentence is released when the first character after its gap arrives, or when the stream ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

_LATIN_END = frozenset(".!?…")
_CJK_END = frozenset("。！？．｡")
_CLAUSE_END = frozenset(",;:—–")
_CLOSERS = frozenset("\"'”’»)]}」』）】")
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "sra", "srta", "jr", "st", "vs", "mt", "fig",
     "approx", "dept", "inc", "ltd", "ud", "uds"}
)  # fmt: skip


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the "." at ``dot`` closes an abbreviation or an initial rather than a sentence."""
    start = dot
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in "¿¡(\"'“‘«":
        start -= 1
    word = text[start:dot]
    if not word:
        return False
    if "." in word and word.replace(".", "").isalpha():  # e.g / i.e / U.S, not 2.718
        return True
    if len(word) == 1 and word.isalpha() and word.isupper():  # an initial: J. K. Rowling
        return True
    return word.lower() in _ABBREVIATIONS


class SentenceSplitter:
    """Incremental splitter: ``feed`` text, get the sentences it completed; ``end`` for the rest."""

    def __init__(self) -> None:
        self._buf = ""
        self._scan = 0  # every index before this was judged "no boundary"

    def feed(self, delta: str) -> list[str]:
        self._buf += delta
        out: list[str] = []
        while (cut := self._next_boundary()) is not None:
            sentence = self._buf[:cut].strip()
            self._buf = self._buf[cut:].lstrip()
            self._scan = 0
            if sentence:
                out.append(sentence)
        return out

    def end(self) -> list[str]:
        rest, self._buf, self._scan = self._buf.strip(), "", 0
        return [rest] if rest else []

    def take_clause(self, min_words: int) -> str | None:
        """The buffer's first clause (up to ", " "; " ": " or a dash) once it has ``min_words``
        words and the next word has begun, or None; what follows stays buffered."""
        buf = self._buf
        for i, ch in enumerate(buf):
            if ch in _CLAUSE_END and i + 2 < len(buf) and buf[i + 1] == " " and not buf[i + 2].isspace():
                clause = buf[: i + 1].strip()
                if len(clause.split()) >= min_words and not any(c.isdigit() for c in buf[i - 1:i + 3]):
                    self._buf, self._scan = buf[i + 1:].lstrip(), 0
                    return clause
        return None

    def _next_boundary(self) -> int | None:
        """Index just after the first sentence in the buffer, or None (none yet or undecided)."""
        buf, n = self._buf, len(self._buf)
        i = self._scan
        while i < n:
            ch = buf[i]
            if ch == "\n":
                if buf[:i].strip():
                    return i
                i += 1
                continue
            if ch in _CJK_END:
                j = self._after_closers(i + 1)
                if j == n and buf[j - 1] in _CJK_END:
                    self._scan = i
                    return None  # more "！？" may follow
                return j
            if ch not in _LATIN_END:
                i += 1
                continue
            j = i
            while j < n and (buf[j] in _LATIN_END or buf[j] in _CJK_END):
                j += 1
            j = self._after_closers(j)
            if j == n:
                self._scan = i
                return None  # need the next character
            if not buf[j].isspace():
                i = j  # "3.5", "e.g.x", "?!" inside a token
                continue
            k = j
            while k < n and buf[k].isspace() and buf[k] != "\n":
                k += 1
            if k == n:
                self._scan = i
                return None  # need the first character of the next word
            if buf[k] == "\n":
                return j
            if buf[k].islower() or (j - i == 1 and ch == "." and _is_abbreviation(buf, i)):
                i = j
                continue
            return j
        self._scan = n
        return None

    def _after_closers(self, j: int) -> int:
        while j < len(self._buf) and self._buf[j] in _CLOSERS:
            j += 1
        return j


async def split_sentences(deltas: AsyncIterator[str], first_clause_words: int = 0) -> AsyncIterator[str]:
    """Yield each complete sentence of ``deltas`` as soon as it ends, then the remainder.

    With ``first_clause_words`` > 0 the reply's first clause goes out at its comma once it has
    that many words ("Sure, let's look at it together, ..."), so speech starts sooner; the
    rest is cut into sentences as usual."""
    splitter = SentenceSplitter()
    started = False
    async for delta in deltas:
        out = splitter.feed(delta)
        if not started and not out and first_clause_words > 0:
            clause = splitter.take_clause(first_clause_words)
            out = [clause] if clause else []
        for sentence in out:
            started = True
            yield sentence
    for sentence in splitter.end():
        yield sentence
