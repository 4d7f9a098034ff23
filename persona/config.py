"""``personas.yaml``: the personas a user can run, validated once at load.

A bad file raises ``ConfigError`` whose message is one line naming the file, the line, the key
and what is allowed; nothing starts half-configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "personas.yaml"

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Signed = Annotated[float, Field(ge=-1.0, le=1.0)]


class ConfigError(Exception):
    """A personas file that cannot be used; ``str()`` is the one line to show the user."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BigFive(_Frozen):
    O: Unit = Field(description="openness")
    C: Unit = Field(description="conscientiousness")
    E: Unit = Field(description="extraversion")
    A: Unit = Field(description="agreeableness")
    N: Unit = Field(description="neuroticism")

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        return (self.O, self.C, self.E, self.A, self.N)


class Mood(_Frozen):
    V: Signed = 0.0
    A: Signed = 0.0
    D: Signed = 0.0

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.V, self.A, self.D)


class Voice(_Frozen):
    backend: Literal["piper", "espeak"] = "piper"
    model: str | None = Field(None, description="Piper voice .onnx path; empty: the bundled en_US-joe-medium")
    speaker: int | None = None
    espeak_voice: str = "en-us"
    rate: Annotated[float, Field(ge=0.5, le=2.0)] = 1.0  # speaking-rate multiplier
    pitch: Annotated[float, Field(ge=-12.0, le=12.0)] = 0.0  # semitones from the voice's own
    pitch_range: Annotated[float, Field(ge=0.0, le=3.0)] = 1.0  # multiplier of F0 excursions
    volume: Annotated[float, Field(ge=0.0, le=2.0)] = 1.0


class Avatar(_Frozen):
    style: Literal["ada", "bruno", "kiko", "sol", "mira"] = "ada"
    skin: str | None = Field(None, description="#rrggbb")
    hair: str | None = Field(None, description="#rrggbb")
    eyes: str | None = Field(None, description="#rrggbb")
    accessory: Literal["none", "glasses", "earrings", "headband", "freckles"] | None = None
    photo: str | None = Field(None, description="portrait to animate instead of a drawn avatar")
    background: str = "#dfe6ee"
    renderer: str | None = Field(None, description="a renderer another package registers under the "
                                                   "embodied_agent.renderers entry point")
    options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="settings for that renderer (e.g. its weights' path)")

    @field_validator("skin", "hair", "eyes", "background")
    @classmethod
    def _colour(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not (isinstance(v, str) and len(v) == 7 and v[0] == "#"
                and all(c in "0123456789abcdefABCDEF" for c in v[1:])):
            raise ValueError("a colour is written #rrggbb, e.g. #c68642")
        return v


class LLMSettings(_Frozen):
    backend: Literal["auto", "ollama", "openai", "embedded"] = "auto"
    model: str = Field("gemma3:4b", description="Ollama / OpenAI-compatible model name")
    base_url: str | None = None
    gguf: str | None = Field(None, description="GGUF path for the embedded backend; empty: bundled Gemma 3 270M")
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.7
    max_tokens: Annotated[int, Field(ge=8, le=4096)] = 160
    timeout: Annotated[float, Field(gt=0.0, le=600.0)] = 30.0


class Persona(_Frozen):
    name: str = Field(description="the key under `personas:`")
    display_name: str
    language: str = Field(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
    traits: BigFive
    baseline_mood: Mood = Mood()
    voice: Voice = Voice()
    avatar: Avatar = Avatar()
    llm: LLMSettings = LLMSettings()
    system_prompt: Annotated[str, Field(min_length=10)]
    greeting: str = ""
    plugins: tuple[str, ...] = ()
    memory: bool = Field(True, description="remember each user across sessions (agent.memory); false: never")


class PersonaFile(_Frozen):
    personas: dict[str, Persona]

    @field_validator("personas", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({**p, "name": k} if isinstance(p, dict) else p) for k, p in v.items()}
        return v


# ---------------------------------------------------------------------------- loading


def load_personas(path: str | Path | None = None) -> dict[str, Persona]:
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; pass --config PATH to a personas.yaml") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror})") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from None
    if not isinstance(data, dict) or "personas" not in data:
        raise ConfigError(f"{path}: expected a top-level `personas:` mapping of name -> persona")
    if not data["personas"]:
        raise ConfigError(f"{path}: `personas:` is empty; define at least one persona")
    try:
        return dict(PersonaFile.model_validate(data).personas)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(x for x in err["loc"] if x != "name" or len(err["loc"]) > 3)
        line = _line_of(node, loc)
        key = ".".join(str(x) for x in loc)
        more = f" (and {e.error_count() - 1} more problem(s))" if e.error_count() > 1 else ""
        raise ConfigError(f"{path}{f':{line}' if line else ''}: {key}: {_explain(err)}{more}") from None


def _explain(err: Any) -> str:  # a pydantic ErrorDetails
    kind, ctx, got = err["type"], err.get("ctx", {}), err.get("input")
    if kind == "extra_forbidden":
        return "unknown key; check the spelling (see personas.yaml for the allowed keys)"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {got!r})"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        lo, hi = _bounds(err)
        return f"must be between {lo} and {hi} (got {got!r})"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{msg} (got {got!r})" if got is not None and not isinstance(got, dict) else msg


def _bounds(err: dict[str, Any]) -> tuple[str, str]:
    field_bounds = {"O": ("0", "1"), "C": ("0", "1"), "E": ("0", "1"), "A": ("0", "1"),
                    "N": ("0", "1")}
    loc = err["loc"]
    if "baseline_mood" in loc:
        return ("-1", "1")
    if loc and loc[-1] in field_bounds and "traits" in loc:
        return field_bounds[loc[-1]]
    ctx = err.get("ctx", {})
    lo = ctx.get("ge", ctx.get("gt", "…"))
    hi = ctx.get("le", ctx.get("lt", "…"))
    return (str(lo), str(hi))


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest YAML node on the path ``loc``."""
    line = None
    for key in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for k, v in node.value:
            if k.value == str(key):
                line, node = k.start_mark.line + 1, v
                break
        else:
            break
    return line


def get_persona(name: str, path: str | Path | None = None) -> Persona:
    personas = load_personas(path)
    if name not in personas:
        raise ConfigError(f"unknown persona {name!r}; known: {', '.join(sorted(personas))}")
    return personas[name]
