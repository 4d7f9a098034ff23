"""Facts from the user's words: the rules (clauses, questions, first → third person, names and
events), the model's notes, and the rule-and-MiniLM extractor on what is and is not memorable."""

from __future__ import annotations

import numpy as np
import pytest

from agent.memory import extract
from agent.memory.extract import LLMExtractor, RuleExtractor, clauses, event_in, is_question, name_in, third_person
from agent.testing import FakeLLM


@pytest.mark.parametrize("said, note", [
    ("I have a chemistry exam on Friday.", "The user has a chemistry exam on Friday."),
    ("I really like jazz", "The user really likes jazz."),
    ("I find chemistry hard", "The user finds chemistry hard."),
    ("My name is Sam", "The user's name is Sam."),
    ("I'm a nurse", "The user is a nurse."),
    ("I study physics and I love it", "The user studies physics and they love it."),
    ("I was sad because my dog died", "The user was sad because their dog died."),
    ("Chemistry is hard for me", "Chemistry is hard for the user."),
    ("I want to pass my exam so I can study medicine",
     "The user wants to pass their exam so they can study medicine."),
    ("I've got an interview tomorrow", "The user has got an interview tomorrow."),
    ("I don't like mornings", "The user doesn't like mornings."),
    ("I go to school by bus", "The user goes to school by bus."),
])
def test_first_person_becomes_a_note_about_the_user(said, note):
    assert third_person(said) == note


def test_a_new_first_person_statement_is_a_clause_of_its_own():
    assert clauses("My name is Sam and I have a chemistry exam on Friday.") == [
        "My name is Sam", "I have a chemistry exam on Friday."]
    assert clauses("I failed because I was tired. I'm retaking it!") == [
        "I failed because I was tired.", "I'm retaking it!"]


def test_questions_are_not_statements():
    assert is_question("What do you remember about my exam?")
    assert is_question("do you know my name")
    assert not is_question("I have a question about atoms.")


def test_names_and_events():
    assert name_in("my name is sam") == "Sam"
    assert name_in("Hi, I'm Priya") == "Priya"
    assert name_in("I'm tired") is None and name_in("I'm Fine") is None
    assert name_in("Call me Jo, please") == "Jo"
    assert event_in("I have a chemistry exam on Friday") == "chemistry exam"
    assert event_in("The user has a job interview tomorrow.") == "job interview"
    assert event_in("My driving test is on Tuesday") == "driving test"
    assert event_in("I like exams") is None


def test_the_models_notes_are_parsed_and_chatter_left_out():
    reply = ("Here are the facts:\n- The user has a physics test on Monday.\n2. The user's name is Jo\n"
             "NONE\nUser likes it")
    assert extract.parse_notes(reply) == ["The user has a physics test on Monday.", "The user's name is Jo.",
                                  "User likes it."]
    assert extract.parse_notes("NONE") == []


_STOP = set("a an the i my me you your do what is are was on about and of to in it that has have said".split())


def bag_of_words(texts):
    """A stand-in for MiniLM in fast tests: the content words, hashed, unit length."""
    import re
    import zlib

    out = np.zeros((len(texts), 384), np.float32)
    for i, t in enumerate(texts):
        for w in re.findall(r"[a-z']+", t.lower()):
            if w not in _STOP:
                out[i, zlib.crc32(w.encode()) % 384] += 1.0
        out[i] /= max(1e-9, float(np.linalg.norm(out[i])))
    return out


async def test_a_chat_models_notes_get_kinds_and_details():
    llm = FakeLLM("The user has a physics test on Monday.\nThe user's name is Jo.")
    writer = LLMExtractor(llm, bag_of_words)
    notes = await writer.notes("I'm Jo, physics test Monday, help!")
    drafts = writer.drafts(notes, "I'm Jo, physics test Monday, help!")
    assert [(d.kind, d.value) for d in drafts] == [("event", "physics test"), ("name", "Jo")]
    assert all(d.source == "I'm Jo, physics test Monday, help!" for d in drafts)
    assert llm.calls[0][-1].content == "I'm Jo, physics test Monday, help!"  # the words, no more


@pytest.mark.slow
def test_rules_and_minilm_keep_lasting_facts_and_drop_small_talk():
    from perception.embeddings import embed

    extractor = RuleExtractor(embed)
    lasting = ["I find organic chemistry really confusing.", "I want to become a vet.",
               "My brother Tom is visiting next week.", "I love painting landscapes.",
               "I work night shifts at the hospital.", "I struggle with long division.",
               "My cat is called Milo.", "I live in Manchester with my parents.",
               "My grandmother is in hospital.", "I'm training for a half marathon."]
    passing = ["I'm fine, thanks.", "I don't know.", "Yes, I see what you mean.", "OK, I get it now.",
               "I'm not sure about that.", "I'd like to try another one.", "I think the answer is 42.",
               "I'd say photosynthesis.", "I forgot what you said.", "What do you remember about my exam?",
               "Can you explain that again for me?", "I understand."]
    kept = {t: extractor.extract(t) for t in lasting}
    assert [t for t, d in kept.items() if not d] == []
    assert [t for t in passing if extractor.extract(t)] == []
    assert kept["I struggle with long division."][0].kind == "difficulty"
    assert kept["I want to become a vet."][0].text == "The user wants to become a vet."
    both = extractor.extract("My name is Sam and I have a chemistry exam on Friday.")
    assert [(d.kind, d.text, d.value) for d in both] == [
        ("name", "The user's name is Sam.", "Sam"),
        ("event", "The user has a chemistry exam on Friday.", "chemistry exam")]
    assert all(abs(float(np.linalg.norm(d.embedding)) - 1.0) < 1e-4 for d in both)
