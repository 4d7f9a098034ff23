"""Every command answers --help instantly (heavy imports happen inside commands)."""

import pytest

from agent.cli import build_parser, main

COMMANDS = ("run", "chat", "say", "gallery", "perceive", "mirror", "personas", "plugins",
            "doctor", "bench")


def test_every_command_is_registered():
    choices = build_parser()._subparsers._group_actions[0].choices
    assert set(COMMANDS) <= set(choices)


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert "usage: agent " + command in capsys.readouterr().out


def test_unknown_persona_lists_the_known_ones(capsys):
    assert main(["chat", "--persona", "nobody", "--message", "hi", "--json"]) == 2
    err = capsys.readouterr().err
    assert "unknown persona 'nobody'" in err and "tutor" in err


def test_missing_input_file_is_one_line(tmp_path, capsys):
    assert main(["run", "--persona", "tutor", "--input-audio", str(tmp_path / "nope.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"agent: {tmp_path / 'nope.wav'}: no such file"
