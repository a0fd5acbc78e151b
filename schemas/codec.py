"""orjson (de)serialisation for the record dataclasses.

Records are plain typed dataclasses. Binary payloads (JPEG keyframes, PCM audio) are `bytes` fields; JSON has
no bytes, so they travel base64-encoded. Decoding walks the type hints once per class (cached), so a record
round-trips to the same dataclass tree without any per-record reflection cost beyond that.
"""
from __future__ import annotations

import base64
import dataclasses
import functools
import types
import typing
from typing import Any, TypeVar

import orjson

T = TypeVar("T")

_OPTS = orjson.OPT_SERIALIZE_DATACLASS | orjson.OPT_NON_STR_KEYS


def _default(obj: Any) -> Any:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(obj)).decode("ascii")
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(record: Any) -> bytes:
    """Serialise a record (or any orjson-able value) to JSON bytes."""
    return orjson.dumps(record, default=_default, option=_OPTS)


def to_dict(record: Any) -> dict:
    """The record as JSON-ready builtins (bytes as base64)."""
    return orjson.loads(dumps(record))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if tp is bytes:
        return base64.b64decode(value) if isinstance(value, str) else bytes(value)
    if tp is float:
        return float(value)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(args[0], value) if len(args) == 1 else value
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        return [_convert(arg, v) for v in value]
    if origin is dict:
        args = typing.get_args(tp)
        if len(args) == 2:
            # JSON object keys are strings: give int-keyed maps their ints back.
            key = int if args[0] is int else (lambda k: k)
            return {key(k): _convert(args[1], v) for k, v in value.items()}
        return dict(value)
    return value


def from_dict(cls: type[T], data: dict) -> T:
    """Build a record from builtins; unknown keys are ignored so that newer producers do not break older readers."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name])
    try:
        return cls(**kwargs)
    except TypeError as exc:  # missing required fields
        raise ValueError(f"{cls.__name__}: {exc}") from None


def loads(cls: type[T], raw: bytes | str) -> T:
    """Parse JSON bytes into a record of `cls`; raises ValueError with a one-line reason on bad input."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{cls.__name__}: not valid JSON ({exc})") from None
    return from_dict(cls, data)
