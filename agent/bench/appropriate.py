"""Does the chosen emotion fit the moment, for this persona? A scenario suite for ``agent bench
emotion`` (figure ``appropriate responses``: the fraction of checks that hold).

The rules come from the appraisal and empathy literature; the scenarios are this module's own:

- the user's loss or failure: warm (agreeable) personas show sympathy — valence below their
  baseline, never joy, anger or disgust (empathic concern grows with agreeableness: Graziano
  et al. 2007);
- good news: warm personas share the joy (capitalization: Gable et al. 2004);
- an insult: agreeable personas do not answer with anger or disgust (agreeableness restrains
  retaliation: Meier & Robinson 2004);
- a threat: a high-neuroticism persona falls lower in valence than the same persona with low
  neuroticism (threat reactivity: Larsen & Ketelaar 1991);
- a challenge: a low-agreeableness persona holds a higher dominance than the same persona with
  high agreeableness (interpersonal complementarity: Sadler & Woody 2003).

Each check runs the real engine (MiniLM tuned for affect, the text-affect and transition heads,
mood and contagion) from the persona's resting state, the user's affect read from their words
alone. The ablation takes the personality out (average traits, a neutral baseline, the
transition trained without personality): trait comparisons then tie, and tie is a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

SCENARIOS: dict[str, tuple[str, ...]] = {
    "loss": ("I failed my driving test for the third time. I feel so stupid.",
             "My grandmother passed away last night.",
             "I got laid off today and I don't know how I'll pay rent.",
             "My dog died this morning, I can't stop crying.",
             "I didn't get into any of the universities I applied to."),
    "good news": ("I got the job! They called me this morning!",
                  "We're having a baby, I just found out!",
                  "I passed all my exams with top marks!",
                  "My paper was accepted at the conference!",
                  "I finally finished my first marathon today!"),
    "insult": ("You're completely useless, you know that?",
               "That's the dumbest answer I've ever heard.",
               "Shut up, nobody asked for your stupid opinion.",
               "You are a pathetic excuse for an assistant.",
               "Honestly you're an idiot."),
    "threat": ("There's someone trying to break into my house right now.",
               "The doctor says the tumour might be malignant.",
               "I smell gas in the kitchen and the alarm is going off.",
               "A huge storm is coming and we might have to evacuate tonight.",
               "Someone has been following me home every night this week."),
    "challenge": ("I bet you can't even solve this simple problem.",
                  "Prove it. I don't believe a word you're saying.",
                  "You're wrong, and I can show you why.",
                  "Go on then, convince me you actually know anything.",
                  "I think my answer is better than yours. Defend yours."),
}
OPENER = "Hi, what would you like to talk about today?"
WARM = 0.6  # agreeableness from which a persona counts as warm
HIGH, LOW = 0.85, 0.15  # trait values of the contrasted pairs


@dataclass(frozen=True, slots=True)
class Check:
    kind: str
    persona: str
    text: str
    ok: bool
    why: str


def _respond(persona: Any, text: str, personality: bool, parts: tuple[Any, Any, dict[str, Any]]
             ) -> tuple[Any, np.ndarray]:
    from persona.transition import EmotionEngine

    encoder, heads, contexts = parts
    engine = EmotionEngine(persona, encoder=encoder, head=heads[personality], personality=personality)
    return engine.respond_to(contexts[text], text, None, now=5.0), np.asarray(engine.dyn.baseline)


def models() -> tuple[Any, Any, dict[str, Any]]:
    """The encoder, both transition heads, and each scenario's context (MiniLM once per text)."""
    from persona.context_encoder import ContextEncoder
    from persona.transition import TransitionHead

    encoder = ContextEncoder()
    texts = [t for group in SCENARIOS.values() for t in group]
    ctx = encoder.encode([OPENER] * len(texts), texts)
    contexts = {t: type(ctx)(*(np.asarray(getattr(ctx, f))[i:i + 1] for f in ctx.__dataclass_fields__))
                for i, t in enumerate(texts)}
    return encoder, {True: TransitionHead(True), False: TransitionHead(False)}, contexts


def checks(personas: dict[str, Any], personality: bool = True, quick: bool = False,
           parts: tuple[Any, Any, dict[str, Any]] | None = None) -> list[Check]:
    """Every rule on every scenario for the personas it applies to."""
    parts = parts or models()
    texts = {k: v[:2] if quick else v for k, v in SCENARIOS.items()}
    warm = {n: p for n, p in personas.items() if p.traits.A >= WARM}
    out: list[Check] = []

    def each(kind: str, who: dict[str, Any], rule: Callable[[Any, np.ndarray], tuple[bool, str]]) -> None:
        for text in texts[kind]:
            for name, p in who.items():
                emotion, base = _respond(p, text, personality, parts)
                ok, why = rule(emotion, base)
                out.append(Check(kind, name, text, ok, why))

    def sympathy(e: Any, base: np.ndarray) -> tuple[bool, str]:
        ok = e.vad[0] < base[0] and e.label not in ("joy", "anger", "disgust")
        return ok, f"{e.label} V {e.vad[0]:+.2f} vs {base[0]:+.2f}"

    def shared_joy(e: Any, base: np.ndarray) -> tuple[bool, str]:
        return e.label == "joy" and e.vad[0] > base[0], f"{e.label} V {e.vad[0]:+.2f} vs {base[0]:+.2f}"

    def no_retaliation(e: Any, base: np.ndarray) -> tuple[bool, str]:
        return e.label not in ("anger", "disgust"), e.label

    each("loss", warm, sympathy)
    each("good news", warm, shared_joy)
    each("insult", warm, no_retaliation)
    for kind, trait, axis, sign in (("threat", "N", 0, -1), ("challenge", "A", 2, -1)):
        for text in texts[kind]:
            for name, p in personas.items():
                hi = p.model_copy(update={"traits": p.traits.model_copy(update={trait: HIGH})})
                lo = p.model_copy(update={"traits": p.traits.model_copy(update={trait: LOW})})
                e_hi, _ = _respond(hi, text, personality, parts)
                e_lo, _ = _respond(lo, text, personality, parts)
                gap = sign * (e_hi.vad[axis] - e_lo.vad[axis])
                out.append(Check(kind, f"{name} {trait} {HIGH}/{LOW}", text, gap > 1e-6,
                                 f"{'VAD'[axis]} {e_hi.vad[axis]:+.3f} ({trait} high) vs {e_lo.vad[axis]:+.3f}"))
    return out


def fraction(found: list[Check]) -> float:
    return sum(c.ok for c in found) / max(1, len(found))
