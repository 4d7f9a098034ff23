"""The few-shot prompt that makes a base model answer as the persona, and the reply cleaner."""

from __future__ import annotations

from agent.core.stages import Message
from agent.llm.fewshot import USER_TAG, ReplyCleaner, build_prompt, script_for, speaker_tag, stop_strings


def test_prompt_is_header_then_history_then_the_personas_tag():
    prompt = build_prompt(
        [
            Message("system", "You are Ada, a patient tutor."),
            Message("user", "Hi!"),
            Message("assistant", "Hello, what shall we learn?"),
            Message("system", "Speak warmly."),
            Message("user", "Fractions,\nplease."),
        ],
        "Ada",
    )
    lines = prompt.split("\n")
    assert lines[0].startswith("The following is a friendly conversation between User and Ada.")
    assert "You are Ada, a patient tutor." in lines[0] and "Speak warmly" not in prompt  # a turn's note
    assert lines[-4:] == ["User: Hi!", "Ada: Hello, what shall we learn?", "User: Fractions, please.", "Ada:"]
    examples = lines[2:-4]
    assert len(examples) >= 4 and all(line.startswith(("User: ", "Ada: ")) for line in examples)
    assert all(len(line.split(". ")) <= 3 for line in examples if line.startswith("Ada: "))  # 1–2 sentence answers


def test_header_is_stable_so_the_kv_cache_is_reused():
    a = build_prompt([Message("system", "S."), Message("user", "one")], "Ada")
    b = build_prompt([Message("system", "S."), Message("user", "one"), Message("assistant", "x"),
                      Message("user", "two")], "Ada")
    assert b.startswith(a.removesuffix("Ada:"))


def test_speaker_tag_is_one_clean_line():
    assert speaker_tag("Ada") == "Ada"
    assert speaker_tag("  Sol:  the\nCritic ") == "Sol the Critic"
    assert speaker_tag("") == "Assistant"


def test_stops_at_a_new_line_or_a_speaker():
    assert stop_strings("Ada") == ["\n", f"{USER_TAG}:", "Ada:"]


def test_cleaner_strips_leading_blanks_and_emphasis_and_holds_trailing_blanks():
    cleaner = ReplyCleaner()
    out = [cleaner.feed(d) for d in [" ", " **Sure", "!** ", " Let's", "  start. ", "  "]]
    assert out == ["", "Sure", "!", " Let's", " start.", ""]
    assert "".join(out) == "Sure! Let's start."


def test_spanish_persona_gets_a_spanish_transcript():
    prompt = build_prompt([Message("system", "Eres Lucía."), Message("user", "Hola")], "Lucía", "es-MX")
    assert prompt.startswith("La siguiente es una conversación amable en español entre Usuario y Lucía. Eres Lucía.")
    assert prompt.endswith("Usuario: Hola\nLucía:")
    assert stop_strings("Lucía", "es") == ["\n", "Usuario:", "Lucía:"]


def test_unknown_language_falls_back_to_english():
    assert script_for("de") is script_for("en")
    assert build_prompt([Message("user", "Hallo")], "Ada", "de").endswith("User: Hallo\nAda:")
