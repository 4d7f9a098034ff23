"""An LLM's expression description ("a small, crooked smile") → action-unit deltas.

After Think-Before-Draw (Zhang et al., 2025), which turns abstract emotion words into concrete
facial muscle movements before drawing: each phrase of the description is matched against a
lexicon of face features (a smile, raised eyebrows, a furrowed brow) and of emotion words
(worried, delighted), each worth a set of AUs; words around it set the intensity (slight,
small, big) and the side (crooked or one-sided → the face's left only; "left"/"right").
Negated features ("without a smile") are skipped. The result is added to the emotion's face.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np

from render.expression import AUS, EMFACS, au_vector

log = logging.getLogger(__name__)

_BROW = r"(?:eye)?brows?"
_EMOTION_WORD_SCALE = 0.6  # an emotion word adds to the emotion already shown; it is not all of it


def _part(label: str) -> dict[int, float]:
    return {au: _EMOTION_WORD_SCALE * v for au, v in EMFACS[label].items()}


# (name, pattern, AUs, one-sided by nature). Longer, more specific phrases come first: a
# phrase consumes its words so that "raised eyebrow" is not also read as "eyebrow".
_FEATURES: tuple[tuple[str, str, dict[int, float], bool], ...] = (
    ("one brow raised", rf"\b(?:one|an|a single|one raised) {_BROW}\b|"
                        rf"\brais(?:e|es|ed|ing) (?:an|one) {_BROW}\b|\ba raised (?:eye)?brow\b(?!s)|"
                        r"\b(?:eye)?brow (?:arched|cocked)\b",
     {2: 0.8, 1: 0.3}, True),
    ("brows raised", rf"\b(?:rais(?:ed|es|ing)|lift(?:ed|s|ing)?|arched|high) {_BROW}|"
                     rf"\b{_BROW} (?:raised|lifted|up|shoot up|arched)",
     {1: 0.7, 2: 0.8}, False),
    ("worried brow", rf"\b(?:worried|pleading|sad|upturned) {_BROW}|\binner {_BROW}",
     {1: 0.8, 4: 0.3}, False),
    ("brow lowered", rf"\b(?:furrow(?:ed|s|ing)?|knit(?:ted|s)?|lower(?:ed|s|ing)?|drawn|"
                     rf"creased|pinched|frowning) {_BROW}|\b{_BROW} (?:furrowed|knit(?:ted)?|"
                     rf"lowered|drawn together|pulled together)|\bfurrow(?:ed|s|ing)?\b",
     {4: 0.8}, False),
    ("crooked smile", r"\bsmirk(?:s|ing|ed)?\b|\bhalf[- ]smile\b",
     {12: 0.6, 14: 0.4}, True),
    ("grin", r"\bgrin(?:s|ning|ned)?\b|\bbeam(?:s|ing|ed)?\b",
     {12: 0.9, 6: 0.6, 25: 0.4}, False),
    ("smile", r"\bsmil(?:e|es|ing|ed)\b", {12: 0.7, 6: 0.35}, False),
    ("mouth corners down", r"\b(?:lip|mouth) corners? (?:turned |pulled )?down|"
                           r"\bdownturned (?:mouth|lips)|\bcorners of (?:the|her|his|their) mouth "
                           r"(?:turned |pulled )?down",
     {15: 0.8}, False),
    ("frown", r"\bfrown(?:s|ing|ed)?\b", {4: 0.6, 15: 0.4}, False),
    ("scowl", r"\bscowl(?:s|ing|ed)?\b|\bglar(?:e|es|ing|ed)\b", {4: 0.9, 7: 0.5, 23: 0.4}, False),
    ("wide eyes", r"\bwide[- ]eyed\b|\b(?:wide|widened|widening) eyes\b|\beyes (?:wide|widen)",
     {5: 0.8}, False),
    ("narrowed eyes", r"\b(?:narrow(?:ed|ing)?|squinting) eyes\b|\beyes narrow|\bsquint(?:s|ing|ed)?\b",
     {7: 0.7, 6: 0.2}, False),
    ("eyes closed", r"\b(?:closed|shut) eyes\b|\beyes (?:closed|shut)\b|\bclos(?:es|ing|ed) "
                    r"(?:her|his|their|the) eyes\b",
     {43: 0.9}, False),
    ("nose wrinkled", r"\bwrinkl(?:ed|es|ing) (?:the |her |his |their )?nose\b|\bnose wrinkl|"
                      r"\bsneer(?:s|ing|ed)?\b",
     {9: 0.8, 10: 0.4}, False),
    ("lip curl", r"\bcurl(?:ed|s|ing)? (?:upper )?lip\b|\bupper lip (?:raised|curled)\b",
     {10: 0.7}, True),
    ("bared teeth", r"\bbar(?:ed|es|ing) (?:her |his |their )?teeth\b|\bteeth bared\b",
     {10: 0.7, 16: 0.5, 20: 0.3, 25: 0.6}, False),
    ("pressed lips", r"\b(?:press(?:ed|es|ing)?|tight(?:ened)?|thin) lips\b|\blips (?:pressed|tight)|"
                     r"\btight[- ]lipped\b",
     {24: 0.8, 23: 0.4}, False),
    ("pursed lips", r"\bpurs(?:ed|es|ing|e) (?:her |his |their )?lips\b|\blips pursed\b",
     {18: 0.7, 23: 0.3}, False),
    ("lip bite", r"\bbit(?:e|es|ing) (?:her |his |their |the )?(?:lower )?lip\b", {28: 0.5}, False),
    ("pout", r"\bpout(?:s|ing|ed|y)?\b", {17: 0.6, 18: 0.4, 15: 0.3}, False),
    ("open mouth", r"\b(?:open|opened|gaping) mouth\b|\bmouth (?:open|agape|falls open|drops)|"
                   r"\bagape\b|\bgap(?:e|es|ing)\b|\bjaw (?:drop|dropped|drops)|\bjaw-dropp",
     {26: 0.7, 25: 0.5}, False),
    ("parted lips", r"\bpart(?:ed|s|ing) lips\b|\blips part", {25: 0.6}, False),
    ("chin raised", r"\bchin (?:raised|up|tense|wrinkled|quiver|trembl)|\bquivering chin\b",
     {17: 0.7}, False),
    ("grimace", r"\bgrimac(?:e|es|ing|ed)\b", {20: 0.8, 4: 0.4, 7: 0.4}, False),
    ("wince", r"\bwinc(?:e|es|ing|ed)\b", {4: 0.6, 7: 0.7, 6: 0.4, 20: 0.3, 43: 0.3}, False),
    ("dimples", r"\bdimpl(?:e|es|ed)\b", {14: 0.6}, False),
    ("puffed cheeks", r"\bpuff(?:ed|s|ing)? (?:out )?(?:her |his |their )?cheeks\b|\bcheeks puffed\b",
     {34: 0.8}, False),
    ("tongue out", r"\btongue (?:out|sticking out)\b|\bsticks? (?:her |his |their )?tongue out\b",
     {19: 0.8, 25: 0.4}, False),
    ("pained look", r"\bpain(?:ed)?\b", {4: 0.6, 7: 0.6, 20: 0.4}, False),
    # emotion words, decomposed into muscles as Think-Before-Draw does
    ("contempt", r"\bcontempt(?:uous)?\b|\bdisdain(?:ful)?\b|\bsmug\b", {12: 0.5, 14: 0.5}, True),
    ("joy", r"\b(?:happy|happily|joy(?:ful)?|delighted|cheerful|glad|pleased)\b",
     _part("joy"), False),
    ("sadness", r"\b(?:sad|sadly|sorrowful|downcast|melancholy|glum|dejected)\b", _part("sadness"), False),
    ("surprise", r"\b(?:surprised|astonished|amazed|startled)\b", _part("surprise"), False),
    ("fear", r"\b(?:afraid|scared|frightened|fearful|terrified)\b", _part("fear"), False),
    ("worry", r"\b(?:worried|worriedly|anxious(?:ly)?|nervous(?:ly)?|concerned|uneasy|uneasily)\b",
     {1: 0.6, 4: 0.4, 20: 0.25}, False),
    ("anger", r"\b(?:angry|angrily|furious|annoyed|irritated|stern)\b", _part("anger"), False),
    ("disgust", r"\b(?:disgust(?:ed)?|revulsion|repulsed)\b", _part("disgust"), False),
    ("thoughtful", r"\b(?:thoughtful|pensive|puzzled|confused|skeptical|sceptical)\b",
     {4: 0.4, 7: 0.2, 17: 0.2}, False),
)
_COMPILED = tuple((name, re.compile(pattern), aus, one_sided)
                  for name, pattern, aus, one_sided in _FEATURES)

_INTENSITY: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(r"\b(?:barely|faint(?:ly)?|hint of|trace of|touch of|subtle|subtly|"
                r"slight(?:ly)?|a (?:little|bit)|tiny|soft(?:ly)?|gentle|gently|mild(?:ly)?)\b"), 0.45),
    (re.compile(r"\b(?:small|light(?:ly)?|somewhat|quick|brief)\b"), 0.65),
    (re.compile(r"\b(?:big|broad(?:ly)?|wide(?:ly)?|huge|deep(?:ly)?|strong(?:ly)?|very|"
                r"intense(?:ly)?|heav(?:y|ily)|wild(?:ly)?|enormous|full|beaming|radiant|"
                r"fierce(?:ly)?)\b"), 1.35),
)
_ONE_SIDED = re.compile(r"\b(?:crooked|lopsided|one[- ]sided|half|asymmetric(?:al)?|wry|"
                        r"sideways|twisted|uneven)\b")
_LEFT = re.compile(r"\bleft\b")
_RIGHT = re.compile(r"\bright\b")
_NEGATION = re.compile(r"\b(?:no|not|without|never|nor|isn't|doesn't|don't|hardly any)\b")
_CLAUSE_BREAK = re.compile(r"[.;!?]|\bbut\b|\band\b|\bwhile\b|\bwith\b")
_AFTER_BREAK = re.compile(r"[.,;!?]|\bbut\b|\band\b|\bwhile\b|\bwith\b")
_LOOKAHEAD = 3  # words after a feature that may still modify it ("smiling broadly")


@dataclass(frozen=True, slots=True)
class Description:
    """What a description adds to the face: AU deltas (2, len(AUS)) and the features read."""

    aus: np.ndarray
    features: tuple[str, ...]


def describe(text: str) -> Description:
    """Read an expression description into AU deltas (zeros when nothing is recognised)."""
    text = text.lower().replace("’", "'")
    total = np.zeros((2, len(AUS)), dtype=np.float32)
    if not text.strip():
        return Description(total, ())
    taken = np.zeros(len(text), dtype=bool)
    hits: list[tuple[int, int, str, dict[int, float], bool]] = []
    for name, pattern, aus, one_sided in _COMPILED:
        for m in pattern.finditer(text):
            if taken[m.start():m.end()].any():
                continue
            taken[m.start():m.end()] = True
            hits.append((m.start(), m.end(), name, aus, one_sided))
    hits.sort()
    features: list[str] = []
    for k, (start, end, name, aus, one_sided) in enumerate(hits):
        before = _modifier_span(text, hits[k - 1][1] if k else 0, start)
        stop = hits[k + 1][0] if k + 1 < len(hits) else len(text)
        after = _AFTER_BREAK.split(text[end:stop], maxsplit=1)[0]
        after = " ".join(after.split()[:_LOOKAHEAD])
        context = f"{before} {text[start:end]} {after}"
        if _NEGATION.search(before):
            continue
        scale = next((s for pattern, s in _INTENSITY if pattern.search(context)), 1.0)
        side = _side(context, one_sided)
        total += au_vector({au: v * scale for au, v in aus.items()}, side)
        features.append(name if side == "both" else f"{name} ({side})")
    if not features:
        log.debug("expression description matched no feature (%d characters)", len(text))
    return Description(np.clip(total, 0.0, 1.0), tuple(features))


def _modifier_span(text: str, lo: int, hi: int) -> str:
    """The words before a feature back to the previous feature or clause break."""
    span = text[lo:hi]
    parts = _CLAUSE_BREAK.split(span)
    return parts[-1] if parts else span


def _side(context: str, one_sided: bool) -> str:
    left, right = bool(_LEFT.search(context)), bool(_RIGHT.search(context))
    if left != right:
        return "left" if left else "right"
    return "left" if one_sided or _ONE_SIDED.search(context) else "both"
