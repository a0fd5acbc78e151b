"""Agents by name. The model agents live in their own modules and may be absent from a slim install; asking for
one that is not there is a ConfigError with one line, not an ImportError traceback."""
from __future__ import annotations

import importlib
from typing import Any

from agents.errors import ConfigError

# name -> (module, class, settings class or None)
AGENTS: dict[str, tuple[str, str]] = {
    "asr": ("agents.asr", "AsrAgent"),
    "tagger": ("agents.tagger", "TaggerAgent"),
    "detector": ("agents.detector", "DetectorAgent"),
    "captioner": ("agents.captioner", "CaptionerAgent"),
}
MODEL_AGENTS = tuple(AGENTS)


def available() -> list[str]:
    """Model agents whose module is present in this install."""
    names = []
    for name, (module, cls) in AGENTS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and (exc.name == module or module.startswith(exc.name + ".")):
                continue
            raise
        if hasattr(mod, cls):
            names.append(name)
    return names


def build(name: str, options: dict[str, Any] | None = None):
    if name not in AGENTS:
        raise ConfigError(f"unknown agent {name!r} (known: ingest, {', '.join(AGENTS)})")
    if name not in available():
        raise ConfigError(f"agent {name!r} is not available in this install")
    module, cls = AGENTS[name]
    return getattr(importlib.import_module(module), cls).from_options(options or {})


def parse_agents(text: str | None, default: list[str]) -> list[str]:
    if text is None:
        return list(default)
    names = [n.strip() for n in text.split(",") if n.strip()]
    names = [n for n in names if n not in ("ingest", "joiner")]
    for n in names:
        if n not in AGENTS:
            raise ConfigError(f"unknown agent {n!r} (known: {', '.join(AGENTS)})")
    return names
