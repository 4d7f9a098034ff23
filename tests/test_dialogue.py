"""Dialogue: the emotion is chosen first, the prompt carries it and the cues, history is what was heard."""

from perception.fusion import FusedAffect
from persona.config import get_persona
from persona.emotion import Emotion


class FakeLLM:
    """Records the prompt and streams a scripted reply in small deltas."""

    name = "fake"
    is_base_model = False

    def __init__(self, reply="I hear you. Let's look at it together. What went wrong?"):
        self.reply = reply
        self.calls = []

    async def stream(self, messages, *, max_tokens=None, stop=()):
        self.calls.append(list(messages))
        for i in range(0, len(self.reply), 5):
            yield self.reply[i:i + 5]

    async def aclose(self):
        pass


class FakeEngine:
    """Stands in for the model-backed EmotionEngine; records what the dialogue passed it."""

    def __init__(self):
        self.calls = []

    def respond(self, user_text, user_affect, agent_prev_text="", now=0.0):
        self.calls.append((user_text, user_affect, agent_prev_text, now))
        return Emotion.from_label("sadness", 0.4)


def make():
    from agent.dialogue import Dialogue

    llm, engine = FakeLLM(), FakeEngine()
    return Dialogue(get_persona("tutor"), llm, engine, history_turns=2), llm, engine


AFFECT = FusedAffect((-0.4, 0.1, -0.1), 0.6, "sadness", "the user frowns slightly; words sound upset", {"text": 0.6})


async def test_prompt_carries_persona_language_emotion_and_cues(no_leaked_tasks):
    d, llm, engine = make()
    emotion = d.choose_emotion("I failed again", AFFECT, now=3.0)
    text, affect, prev, now = engine.calls[0]
    assert (text, prev, now) == ("I failed again", "", 3.0)
    assert affect.vad == AFFECT.vad and affect.confidence == AFFECT.confidence
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
    d, llm, engine = make()
    emo = Emotion.neutral()
    d.commit("one", "first reply, cut off")
    d.choose_emotion("two", None, now=1.0)
    assert engine.calls[-1][1] is None and engine.calls[-1][2] == "first reply, cut off"
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
