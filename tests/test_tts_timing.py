"""Phoneme segments: Piper's per-codepoint alignments become one IPA phoneme per timing, the
timings tile the audio, and stretching pauses moves later timings by exactly the samples added."""

import numpy as np
import pytest

from agent.tts.base import SILENCE
from agent.tts.piper import segments_from_alignments
from agent.tts.timing import Segment, fit_to_length, split_sentences, stretch_pauses, to_phonemes, words_of

# Piper's alignment of "hello there." (BOS, codepoints with stress marks, space, EOS)
HELLO = [("^", 1024), ("h", 768), ("ə", 1280), ("l", 512), ("ˈ", 1536), ("o", 1024), ("ʊ", 768),
         (" ", 1024), ("ð", 2048), ("ˈ", 1536), ("ɛ", 1280), ("ɹ", 1792), (".", 2560), ("$", 2304)]


def tiles(segments, n):
    assert segments[0].start == 0 and segments[-1].end == n
    assert all(a.end == b.start for a, b in zip(segments, segments[1:]))
    assert all(s.length > 0 for s in segments)


def test_piper_alignments_fold_stress_and_share_word_spaces():
    segs = segments_from_alignments(HELLO)
    total = sum(n for _, n in HELLO)
    tiles(segs, total)
    assert [s.phoneme for s in segs] == [SILENCE, "h", "ə", "l", "o", "ʊ", "ð", "ɛ", "ɹ", SILENCE]
    o = segs[4]
    assert o.stress and o.start == 1024 + 768 + 1280 + 512  # the stress mark's samples lead into it
    assert not segs[5].stress
    assert segs[5].end == segs[6].start == 1024 + 768 + 1280 + 512 + 1536 + 1024 + 768 + 512
    assert [s.word_start for s in segs if s.phoneme != SILENCE] == [True, False, False, False,
                                                                     False, True, False, False]


def test_length_marks_and_diacritics_join_the_phoneme_before():
    segs = segments_from_alignments([("^", 100), ("u", 200), ("ː", 300), ("n", 50), ("\u0329", 60),
                                     ("$", 10)])
    assert [(s.phoneme, s.start, s.end) for s in segs] == [
        (SILENCE, 0, 100), ("uː", 100, 600), ("n\u0329", 600, 710), (SILENCE, 710, 720)]


def test_fit_to_length_fills_a_leading_gap_and_absorbs_rounding():
    segs = fit_to_length([Segment("a", 10, 50), Segment("b", 50, 90)], 100)
    tiles(segs, 100)
    assert segs[0].phoneme == SILENCE and segs[-1].end == 100


@pytest.mark.parametrize("scale", [0.5, 1.0, 1.7, 3.0])
def test_stretch_pauses_moves_timings_by_the_samples_it_adds(scale):
    sr = 1000
    segs = [Segment(SILENCE, 0, 100), Segment("a", 100, 300), Segment(SILENCE, 300, 500),
            Segment("b", 500, 600)]
    audio = np.concatenate([np.zeros(100), np.full(200, 0.5), np.zeros(200), np.full(100, -0.5)])
    out, new = stretch_pauses(audio.astype(np.float32), segs, scale, sr)
    tiles(new, len(out))
    a, b = new[1], new[3]
    assert np.all(out[a.start:a.end] == 0.5) and np.all(out[b.start:b.end] == -0.5)  # speech intact
    assert new[2].length == max(10, round(200 * scale))
    assert len(out) == 600 + (new[0].length - 100) + (new[2].length - 200)


def test_to_phonemes_are_seconds_and_sum_to_the_audio():
    segs = segments_from_alignments(HELLO)
    ph = to_phonemes(segs, 22050)
    assert ph[-1].end == pytest.approx(sum(n for _, n in HELLO) / 22050)
    assert sum(p.end - p.start for p in ph) == pytest.approx(ph[-1].end)


def test_words_follow_word_starts_and_refuse_a_mismatch():
    segs = segments_from_alignments(HELLO)
    words = words_of(segs, "Hello there.", 1000)
    assert [w.word for w in words] == ["Hello", "there"]
    assert words[0].end == words[1].start
    assert words_of(segs, "Hello there again.", 1000) == ()


def test_split_sentences_keeps_closing_quotes():
    assert split_sentences('Hi there. "Really?" she asked!  Ok') == [
        "Hi there.", '"Really?"', "she asked!", "Ok"]
    assert split_sentences("   ") == []


def test_a_chunk_splits_at_the_word_a_pause_cut() -> None:
    """After a pause the agent says its chunk again from the word it stopped in."""
    from agent.core.speech import PhonemeTiming, SpeechChunk, WordTiming

    rate = 100
    words = (WordTiming("one", 0.0, 0.3), WordTiming("two", 0.4, 0.7), WordTiming("three", 0.8, 1.2))
    phonemes = (PhonemeTiming("w", 0.0, 0.3), PhonemeTiming("t", 0.4, 0.7), PhonemeTiming("θ", 0.8, 1.2))
    chunk = SpeechChunk(np.arange(120, dtype=np.float32), rate, "one two three", phonemes, words, last=True)
    head, tail = chunk.split_at_word(0.5)  # in the middle of "two"
    assert head.text == "one" and [w.word for w in head.words] == ["one"] and len(head.audio) == 40
    assert not head.last and tail.last
    assert tail.text == "two three" and tail.audio[0] == 40 and len(tail.audio) == 80
    assert tail.words[0] == WordTiming("two", 0.0, pytest.approx(0.3)) and tail.phonemes[0].phoneme == "t"
    head, tail = chunk.split_at_word(0.1)  # the first word: all of it again
    assert head.duration == 0 and tail.text == "one two three" and len(tail.audio) == 120
    bare = SpeechChunk(np.zeros(50, np.float32), rate, "hello")
    assert bare.split_at_word(0.3)[1].text == "hello" and bare.split_at_word(0.3)[1].duration == 0.5
