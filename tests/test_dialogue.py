"""Dialogue: the prompt carries the chosen emotion and the cues, history is what was heard."""

from agent.core.affect import FusedAffect
from agent.testing import FakeLLM
from persona.config import get_persona
from persona.emotion import Emotion


def make():
    from agent.dialogue import Dialogue

    llm = FakeLLM("I hear you. Let's look at it together. What went wrong?")
    return Dialogue(get_persona("tutor"), llm, history_turns=2), llm


AFFECT = FusedAffect((-0.4, 0.1, -0.1), 0.6, "sadness", "the user frowns slightly; words sound upset", {"text": 0.6})


async def test_prompt_carries_persona_language_emotion_and_cues(no_leaked_tasks):
    d, llm = make()
    emotion = Emotion.from_label("sadness", 0.4)
    sentences = [s async for s in d.stream_reply("I failed again", emotion, AFFECT)]
    assert sentences == ["I hear you.", "Let's look at it together.", "What went wrong?"]
    system = llm.calls[0][0]
    assert system.role == "system"
    assert "patient maths and science tutor" in system.content
    assert "English" in system.content
    assert f"sadness (intensity {emotion.intensity:.1f})" in system.content
    assert "unpleasant" in system.content
    assert "the user frowns slightly; words sound upset" in system.content
    assert llm.calls[0][-1].role == "user" and llm.calls[0][-1].content == "I failed again"


async def test_history_keeps_only_heard_text_and_is_bounded(no_leaked_tasks):
    d, llm = make()
    emo = Emotion.neutral()
    d.commit("one", "first reply, cut off")
    assert d.last_reply == "first reply, cut off"
    d.commit("two", "second")
    d.commit("three", "third")
    await d.reply("four", emo, None)
    msgs = llm.calls[-1]
    assert [m.content for m in msgs[1:]] == ["two", "second", "three", "third", "four"]
    assert "notice about the user" not in msgs[0].content  # no cues without evidence


def test_emotion_in_words():
    from agent.dialogue import emotion_in_words

    assert emotion_in_words(Emotion.neutral()) == "neutral (intensity 0.0): even and relaxed"
    assert "very pleasant" in emotion_in_words(Emotion.from_label("joy"))
