"""split_sentences: sentences leave as soon as they end, and only where a sentence really ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agent.llm.sentences import SentenceSplitter, split_sentences


async def _deltas(pieces: list[str], log: list[str] | None = None) -> AsyncIterator[str]:
    for p in pieces:
        if log is not None:
            log.append(p)
        yield p


def _split(text: str, step: int = 0) -> list[str]:
    """Split ``text`` fed whole (step 0) or ``step`` characters at a time."""
    pieces = [text] if step == 0 else [text[i : i + step] for i in range(0, len(text), step)]

    async def run() -> list[str]:
        return [s async for s in split_sentences(_deltas(pieces))]

    return asyncio.run(run())


CASES = [
    ("Hello there! How are you? I am fine.", ["Hello there!", "How are you?", "I am fine."]),
    ("Use fractions, e.g. halves. Then add.", ["Use fractions, e.g. halves.", "Then add."]),
    ("That is, i.e. the top. Next.", ["That is, i.e. the top.", "Next."]),
    ("Mr. Smith and Dr. Lee met Mrs. Patel. They talked.", ["Mr. Smith and Dr. Lee met Mrs. Patel.", "They talked."]),
    ("Pi is about 3.14 and e is 2.718. Nice!", ["Pi is about 3.14 and e is 2.718.", "Nice!"]),
    ("Well... maybe not. Okay.", ["Well... maybe not.", "Okay."]),
    ("Hmm… let me think. Right.", ["Hmm… let me think.", "Right."]),
    ("Wait... What was that?", ["Wait...", "What was that?"]),
    ("Really?! Yes.", ["Really?!", "Yes."]),
    ('She said "stop." Then she left.', ['She said "stop."', "Then she left."]),
    ("(It works.) Good.", ["(It works.)", "Good."]),
    ("J. K. Rowling wrote it. Read it.", ["J. K. Rowling wrote it.", "Read it."]),
    ("Hola. ¿Cómo estás? ¡Muy bien! Bien, ¿y tú?", ["Hola.", "¿Cómo estás?", "¡Muy bien!", "Bien, ¿y tú?"]),
    ("La Sra. García llegó. Gracias.", ["La Sra. García llegó.", "Gracias."]),
    ("你好。今天天气很好！你呢？", ["你好。", "今天天气很好！", "你呢？"]),
    ("こんにちは。元気ですか？", ["こんにちは。", "元気ですか？"]),
    ("First line\nSecond line.", ["First line", "Second line."]),
    ("One.\n\nTwo.", ["One.", "Two."]),
    ("No terminator at the end", ["No terminator at the end"]),
    ("It costs 5. Then stop", ["It costs 5.", "Then stop"]),
    ("  Spaces around.   ", ["Spaces around."]),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
@pytest.mark.parametrize("step", [0, 1, 3])
def test_splits_the_same_however_the_text_arrives(text, expected, step):
    assert _split(text, step) == expected


def test_a_sentence_leaves_as_soon_as_the_next_word_starts():
    splitter = SentenceSplitter()
    assert splitter.feed("Hello there") == []
    assert splitter.feed("! ") == []  # undecided: "! and" would not end it
    assert splitter.feed("H") == ["Hello there!"]
    assert splitter.feed("ow are you") == []
    assert splitter.end() == ["How are you"]


def test_cjk_needs_no_following_word():
    splitter = SentenceSplitter()
    assert splitter.feed("好的。") == []  # "。」" could still follow
    assert splitter.feed("我") == ["好的。"]


async def test_sentences_are_yielded_before_the_stream_ends():
    consumed: list[str] = []
    stream = split_sentences(_deltas(["First one.", " Second", " one.", " Third"], consumed))
    first = await anext(stream)
    assert first == "First one." and consumed == ["First one.", " Second"]
    assert [s async for s in stream] == ["Second one.", "Third"]


async def _chopped(text: str, step: int = 3):
    for i in range(0, len(text), step):
        yield text[i:i + step]


async def test_first_clause_goes_out_at_its_comma():
    from agent.llm.sentences import split_sentences

    text = "Sure, I can help with that, let us start. Fractions are parts of a whole."
    out = [s async for s in split_sentences(_chopped(text), first_clause_words=4)]
    assert out == ["Sure, I can help with that,", "let us start.", "Fractions are parts of a whole."]
    # short openers wait for more words; numbers with commas are not clauses
    out = [s async for s in split_sentences(_chopped("Yes, 1,000 is big. Okay."), first_clause_words=4)]
    assert out == ["Yes, 1,000 is big.", "Okay."]
    out = [s async for s in split_sentences(_chopped(text))]
    assert out[0] == "Sure, I can help with that, let us start."
