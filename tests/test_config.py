"""personas.yaml validation: a bad file gives one clear line naming the file, the line or key,
and what is allowed."""

import textwrap
from pathlib import Path

import pytest

from persona.config import ConfigError, get_persona, load_personas

GOOD = """\
personas:
  p1:
    display_name: One
    language: en
    traits: {O: 0.5, C: 0.5, E: 0.5, A: 0.5, N: 0.5}
    system_prompt: You are a helpful test persona.
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "personas.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as e:
        load_personas(write(tmp_path, text))
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_shipped_personas_are_valid_and_distinct():
    personas = load_personas()
    assert len(personas) >= 5 and "tutor" in personas
    for p in personas.values():
        assert p.system_prompt and p.display_name and p.language
    # the user must be able to see and hear the difference
    assert len({p.avatar.style for p in personas.values()}) >= 4
    assert len({(p.voice.backend, p.voice.rate, p.voice.pitch) for p in personas.values()}) == len(personas)
    assert len({p.traits for p in personas.values()}) == len(personas)


def test_good_minimal_file_gets_defaults(tmp_path):
    p = load_personas(write(tmp_path, GOOD))["p1"]
    assert p.name == "p1" and p.voice.backend == "piper" and p.llm.backend == "auto"


def test_trait_out_of_range_names_file_line_key_and_range(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("N: 0.5", "N: 1.4"))
    assert "personas.yaml:5:" in msg
    assert "personas.p1.traits.N" in msg
    assert "between 0 and 1" in msg and "1.4" in msg


def test_unknown_key_is_an_error(tmp_path):
    msg = error_of(tmp_path, GOOD + "    favourite_colour: blue\n")
    assert "personas.p1.favourite_colour" in msg and "unknown key" in msg and ":7:" in msg


def test_missing_key(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("    language: en\n", ""))
    assert "personas.p1.language" in msg and "missing" in msg


def test_bad_choice_lists_allowed(tmp_path):
    msg = error_of(tmp_path, GOOD + "    avatar: {style: gandalf}\n")
    assert "personas.p1.avatar.style" in msg and "'ada'" in msg and "gandalf" in msg


def test_bad_colour(tmp_path):
    msg = error_of(tmp_path, GOOD + "    avatar: {hair: red}\n")
    assert "avatar.hair" in msg and "#rrggbb" in msg


def test_broken_yaml_names_line(tmp_path):
    msg = error_of(tmp_path, "personas:\n  p1: {display_name: [unclosed\n")
    assert "not valid YAML" in msg and "personas.yaml:" in msg


def test_missing_file_and_empty(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_personas(tmp_path / "nope.yaml")
    assert "personas:" in error_of(tmp_path, "other: 1\n")
    assert "empty" in error_of(tmp_path, "personas: {}\n")


def test_unknown_persona_lists_known(tmp_path):
    with pytest.raises(ConfigError) as e:
        get_persona("nobody", write(tmp_path, GOOD))
    assert "unknown persona 'nobody'" in str(e.value) and "p1" in str(e.value)


def test_cli_reports_config_errors_in_one_line(tmp_path, capsys):
    from agent.cli import main

    bad = write(tmp_path, GOOD.replace("E: 0.5", "E: -2"))
    assert main(["personas", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("agent: ") and "traits.E" in err and len(err.splitlines()) == 1
