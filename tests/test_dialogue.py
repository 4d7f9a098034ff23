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
    system, *_, user, note = llm.calls[0]
    assert system.role == "system"
    assert "patient maths and science tutor" in system.content and "English" in system.content
    assert user.role == "user" and user.content == "I failed again"
    # what changes each turn comes after the history, last: the cached prefix never changes
    assert note.role == "system" and "sad" not in system.content
    assert f"sadness (intensity {emotion.intensity:.1f})" in note.content and "unpleasant" in note.content
    assert "the user frowns slightly; words sound upset" in note.content


async def test_history_keeps_only_heard_text_and_is_bounded(no_leaked_tasks):
    d, llm = make()
    emo = Emotion.neutral()
    d.commit("one", "first reply, cut off")
    assert d.last_reply == "first reply, cut off"
    d.commit("two", "second")
    d.commit("three", "third")
    await d.reply("four", emo, None)
    msgs = llm.calls[-1]
    # over the bound (2 turns) the older half went at once: "one" and "two" together
    assert [m.content for m in msgs[1:] if m.role != "system"] == ["three", "third", "four"]
    assert "notice" not in msgs[-1].content  # no cues without evidence
    assert msgs[0].content == d.system()  # the fixed part is the same every turn


def test_a_long_conversation_keeps_its_cached_prefix_but_every_few_turns():
    """Bounded history without re-reading it every turn: the prompt of one turn is a prefix of
    the next's except when the older half is dropped, once every history_turns / 2 turns."""
    from agent.dialogue import Dialogue

    d = Dialogue(get_persona("tutor"), FakeLLM(), history_turns=8)
    emo = Emotion.neutral()
    changed, previous = 0, None
    for i in range(40):
        prompt = d.messages(f"question {i}", emo, None)
        if previous is not None and prompt[:len(previous)] != previous:
            changed += 1
        previous = prompt[:-2]  # what the next turn can reuse: all but this turn's words and note
        d.commit(f"question {i}", f"answer {i}")
        assert len(d.history) <= 8
    assert changed == 7  # turns 9, 14, 19, ... 39 (a window dropping one turn at a time: 31)


def test_emotion_in_words():
    from agent.dialogue import emotion_in_words

    assert emotion_in_words(Emotion.neutral()) == "neutral (intensity 0.0): even and relaxed"
    assert "very pleasant" in emotion_in_words(Emotion.from_label("joy"))


def test_each_past_turn_keeps_its_note_so_the_prompt_only_grows():
    d, _ = make()
    first = d.messages("one", Emotion.from_label("joy", 0.5), AFFECT)
    d.commit("one", "reply one")
    second = d.messages("two", Emotion.from_label("sadness", 0.5), None)
    assert second[:len(first)] == first  # the earlier prompt is a prefix of the next
    assert second[len(first)].content == "reply one"


def test_chat_backends_get_the_note_inside_the_users_message():
    from agent.llm.notes import notes_into_user

    d, _ = make()
    merged = notes_into_user(d.messages("hello", Emotion.from_label("joy", 0.5), AFFECT))
    assert [m.role for m in merged] == ["system", "user"]
    assert merged[1].content.startswith("hello\n\n[You feel joy")


def test_a_base_model_sees_no_notes():
    from agent.llm.fewshot import build_prompt

    d, _ = make()
    prompt = build_prompt(d.messages("hello", Emotion.from_label("joy", 0.5), AFFECT), "Ada")
    assert "You feel" not in prompt and prompt.endswith("User: hello\nAda:")
