"""The layers point one way (ARCHITECTURE.md): ``agent/core`` imports nothing else of the
project; ``persona``, ``perception``, ``render`` and ``plugins`` reach ``agent`` only through
``agent.core``. Read from the source itself, every import, lazy ones included."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("agent", "persona", "perception", "render", "plugins")
LOWER = ("persona", "perception", "render", "plugins")


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, wherever it is."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "agent":  # "from agent import x" is "agent.x"
                out += [(node.lineno, f"agent.{alias.name}") for alias in node.names]
            else:
                out.append((node.lineno, node.module))
    return sorted(out)


def _top(module: str) -> str:
    return module.split(".")[0]


def violations() -> list[str]:
    found = []
    for package in PROJECT:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            in_core = rel.parts[:2] == ("agent", "core")
            for line, module in imports(path):
                if in_core and _top(module) in PROJECT and not module.startswith("agent.core"):
                    found.append(f"{rel}:{line}: agent/core imports {module}")
                elif package in LOWER and _top(module) == "agent" and not (
                        module == "agent.core" or module.startswith("agent.core.")):
                    found.append(f"{rel}:{line}: {package}/ imports {module} (only agent.core is allowed)")
    return found


def test_layers_point_down_only() -> None:
    assert violations() == []


def test_the_check_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from agent.session import Session\n    import agent.core.bus\n"
                   "from agent import pipeline\n")
    assert imports(bad) == [(2, "agent.session"), (3, "agent.core.bus"), (4, "agent.pipeline")]
