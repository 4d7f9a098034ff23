"""Finding plugins (entry points only) and turning ``NAME[:key=value,...]`` into a configured one.

Third-party packages register a ``Plugin`` subclass under the entry-point group
``embodied_agent.plugins``; the entry-point name is what users type after ``--plugin`` and in a
persona's ``plugins:`` list. Nothing is imported until a plugin is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import ValidationError

from agent.core.errors import UserError
from plugins.api import API_VERSION, Plugin

GROUP = "embodied_agent.plugins"


class PluginError(UserError):
    """A plugin that cannot be found, loaded or configured; the message is one line."""


@dataclass(frozen=True)
class PluginSpec:
    name: str
    settings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> PluginSpec:
        """``vmc:host=127.0.0.1,port=39539`` → ``PluginSpec("vmc", {"host": ..., "port": "39539"})``."""
        name, _, rest = spec.strip().partition(":")
        name = name.strip()
        if not name:
            raise PluginError(f"plugin spec {spec!r} has no name; write NAME[:key=value,...]")
        settings: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in rest.split(","))):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not key:
                raise PluginError(f"plugin spec {spec!r}: {item!r} is not key=value; "
                                  "write NAME[:key=value,...]")
            if key in settings:
                raise PluginError(f"plugin spec {spec!r} sets {key!r} twice")
            settings[key] = value.strip()
        return cls(name, settings)


def available() -> dict[str, EntryPoint]:
    """Installed plugins by name."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load_class(name: str) -> type[Plugin]:
    eps = available()
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        raise PluginError(f"unknown plugin {name!r}; known plugins: {known}")
    try:
        cls = eps[name].load()
    except UserError:
        raise
    except Exception as exc:  # a broken third-party package must not crash the CLI
        raise PluginError(f"plugin {name!r} ({eps[name].value}) failed to import: "
                          f"{type(exc).__name__}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Plugin)):
        raise PluginError(f"plugin {name!r} ({eps[name].value}) is not a plugins.api.Plugin subclass")
    check_api_version(name, cls)
    return cls


def check_api_version(name: str, cls: type[Plugin]) -> None:
    major = API_VERSION.split(".")[0]
    if str(cls.api_version).split(".")[0] != major:
        raise PluginError(f"plugin {name!r} was written for plugin API {cls.api_version}; this "
                          f"agent speaks {API_VERSION}; upgrade the plugin or the agent")


def build(spec: PluginSpec) -> Plugin:
    """Load, validate settings and instantiate; every failure is a one-line ``PluginError``."""
    cls = load_class(spec.name)
    return cls(validate_settings(spec.name, cls, spec.settings))


def validate_settings(name: str, cls: type[Plugin], raw: dict[str, Any]) -> Any:
    try:
        return cls.Settings.model_validate(raw)
    except ValidationError as exc:
        raise PluginError(_one_line(name, cls, exc)) from None


def _one_line(name: str, cls: type[Plugin], exc: ValidationError) -> str:
    allowed = ", ".join(cls.Settings.model_fields) or "none"
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "settings"
    if err["type"] == "extra_forbidden":
        return f"plugin {name}: unknown setting {key!r}; allowed settings: {allowed}"
    what = err["msg"].removeprefix("Value error, ")
    if not err["loc"]:
        return f"plugin {name}: {what}"
    info = cls.Settings.model_fields.get(str(err["loc"][0])) if err["loc"] else None
    hint = f" ({info.description})" if info is not None and info.description else ""
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"plugin {name}: bad {key}={err.get('input')!r}: {what}{hint}{more}"


def merge_specs(specs: list[str] | tuple[str, ...], persona_plugins: tuple[str, ...] | list[str] = ()
                ) -> list[PluginSpec]:
    """The persona's plugins, then the command line's; a command-line spec replaces the persona's
    spec of the same name (the user's explicit choice wins)."""
    merged: dict[str, PluginSpec] = {}
    for s in persona_plugins:
        spec = PluginSpec.parse(s)
        merged[spec.name] = spec
    seen: set[str] = set()
    for s in specs:
        spec = PluginSpec.parse(s)
        if spec.name in seen:
            raise PluginError(f"plugin {spec.name!r} is given twice on the command line; "
                              "merge its settings into one --plugin")
        seen.add(spec.name)
        merged[spec.name] = spec
    return list(merged.values())
