"""One options grammar for every agent: `-o AGENT.KEY=VALUE` on the command line (`run`, `worker`) and the
`options` of a request all end here.

Values arrive as strings (CLI), or as JSON values (requests); `convert` turns them into an agent's settings
dataclass with msgspec, the same library that checks the records, so "false" is False everywhere, `half=false` is
not truthy, and `-o asr.langauge=de` is an error naming the key and the valid ones instead of doing nothing.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, TypeVar

import msgspec

from scenestream.agents.errors import ConfigError

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_NONE = {"", "none", "null"}


def _allows(tp: Any, kind: type) -> bool:
    if tp is kind:
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_allows(a, kind) for a in typing.get_args(tp))
    return False


def _normalise(tp: Any, value: Any) -> Any:
    """Strings from a command line, turned into what msgspec's lax mode reads: the boolean words people type,
    `none` for optional fields, and comma lists for list fields. Everything else is msgspec's to check."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower() in _NONE and _allows(tp, type(None)):
        return None
    if _allows(tp, bool) and not _allows(tp, str):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        origins = {typing.get_origin(a) for a in typing.get_args(tp)}
    else:
        origins = {origin}
    if (list in origins or tuple in origins) and not text.startswith("["):
        return [part.strip() for part in text.split(",") if part.strip()]
    if dict in origins:
        if text.startswith("{"):
            return msgspec.json.decode(text)
        return dict((k.strip(), v.strip()) for k, _, v in (p.partition(":") for p in text.split(",") if p.strip()))
    return value


def convert(cls: type[T], options: dict[str, Any] | None, agent: str) -> T:
    """Build settings of dataclass `cls` from `options`; unknown keys and bad values are one-line ConfigErrors
    naming the agent, the key and what is valid."""
    options = dict(options or {})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    for key in options:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown option {agent}.{key}{hint}; valid: {', '.join(sorted(names))}")
    values = {k: _normalise(hints[k], v) for k, v in options.items()}
    try:
        return msgspec.convert(values, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"bad option {agent}.{_field_of(exc, options)}: {_reason(exc)}") from None


def _field_of(exc: msgspec.ValidationError, options: dict) -> str:
    text = str(exc)
    marker = "at `$."
    if marker in text:
        path = text.split(marker, 1)[1].rstrip("`")
        name = path.split("[", 1)[0].split(".", 1)[0]
        return f"{name}={options.get(name)!r}"
    return "?"


def _reason(exc: msgspec.ValidationError) -> str:
    return str(exc).split(" - at `", 1)[0]


def parse_pairs(pairs: list[str] | None, agents: typing.Iterable[str], default_agent: str | None = None,
                ) -> dict[str, dict[str, str]]:
    """`AGENT.KEY=VALUE` strings -> {agent: {key: value}}. With `default_agent`, a bare `KEY=VALUE` goes to it
    (`scenestream run -o keyframes=3` configures ingest)."""
    known = list(agents)
    out: dict[str, dict[str, str]] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        agent, dot, option = key.strip().rpartition(".")
        if not sep or not option or (not dot and default_agent is None):
            raise ConfigError(f"-o takes AGENT.KEY=VALUE (e.g. asr.language=de), got {pair!r}")
        agent = agent or default_agent or ""
        if agent not in known:
            raise ConfigError(f"-o {pair!r}: unknown agent {agent!r} (known: {', '.join(known)})")
        out.setdefault(agent, {})[option.strip()] = value
    return out
