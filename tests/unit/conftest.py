"""Unit-test helpers: event fixtures and the Lambda handlers loaded from functions/."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.conftest import ROOT

EVENTS = Path(__file__).parent / "events"


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def function_module(name: str) -> ModuleType:
    """functions/<name>/app.py as a module of its own (every function is an `app`)."""
    module_name = f"fn_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            module_name, ROOT / "functions" / name / "app.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]
