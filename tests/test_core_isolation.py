"""`tracetui.core` is the headless part: importing all of it must not pull in the UI stack; the
headless report (`tracetui.report`) may print with rich but never imports textual."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import tracetui.core

CORE_DIR = Path(tracetui.core.__file__).resolve().parent

NAMED = ["model", "reader", "tokenizer", "engines.study", "blocks", "pipeline", "kvmodels", "tokens", "result"]
UI_PACKAGES = ("textual", "rich")

SCRIPT = """
import importlib, json, sys
modules = json.loads(sys.argv[1])
for name in modules:
    importlib.import_module(name)
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))
print(json.dumps({"imported": modules, "ui": loaded}))
"""


REPORT_DIR = CORE_DIR.parent / "report"


def _found(root: Path = CORE_DIR) -> set[str]:
    """Every module under `root` (tracetui.core), dotted (packages by their folder's name)."""
    names = set()
    for p in root.rglob("*.py"):
        parts = p.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            names.add(".".join(parts))
    return names


def core_modules() -> list[str]:
    names = list(NAMED)
    names += sorted(n for n in _found() if n not in NAMED)
    return ["tracetui.core"] + [f"tracetui.core.{n}" for n in names]


def test_core_modules_found():
    found = _found()
    assert set(NAMED) <= found, set(NAMED) - found


def test_core_does_not_import_ui():
    modules = core_modules()
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(modules), json.dumps(UI_PACKAGES)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(result)
    assert result["imported"] == modules
    assert result["ui"] == [], f"tracetui.core imports {result['ui']}"


def _imports(modules: list[str], packages: tuple[str, ...]) -> list[str]:
    """Which of `packages` importing `modules` (in a fresh interpreter) pulls in."""
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(modules), json.dumps(packages)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["imported"] == modules
    return result["ui"]


def test_report_does_not_import_textual():
    """`tracetui analyze` / `check` / `compare` run without the Textual app (the explorer and
    `serve` are started from cli lazily)."""
    modules = ["tracetui.report"] + [f"tracetui.report.{n}" for n in sorted(_found(REPORT_DIR))]
    assert "tracetui.report.cli" in modules and "tracetui.report.analyze" in modules
    assert _imports(modules, ("textual",)) == []
