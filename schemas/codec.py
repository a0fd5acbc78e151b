"""(De)serialisation of the record dataclasses: orjson writes them, msgspec reads and checks them.

Records are plain typed dataclasses. Binary payloads (JPEG keyframes, PCM audio) are `bytes` fields; JSON has no
bytes, so they travel base64-encoded. Reading is where records come in from outside (Kafka, files, other
programs), so it is strict: msgspec checks every field's type and shape against the dataclass (`"index": "3"`,
`"frames": 7` or a non-base64 JPEG is a ValueError with a one-line reason) and nothing past this point sees a wrong
type. Unknown fields are ignored, so newer producers do not break older readers.
"""
from __future__ import annotations

import base64
from typing import Any, TypeVar

import msgspec
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


def _reason(cls: type, exc: Exception) -> str:
    return " ".join(f"{cls.__name__}: {exc}".split())[:500]


def from_dict(cls: type[T], data: Any) -> T:
    """Build and check a record from JSON builtins; raises ValueError with a one-line reason."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    try:
        return msgspec.convert(data, cls)
    except msgspec.ValidationError as exc:
        raise ValueError(_reason(cls, exc)) from None


def loads(cls: type[T], raw: bytes | str) -> T:
    """Parse and check JSON bytes as a record of `cls`; raises ValueError with a one-line reason on bad input."""
    try:
        return msgspec.json.decode(raw, type=cls)
    except msgspec.ValidationError as exc:
        raise ValueError(_reason(cls, exc)) from None
    except msgspec.DecodeError as exc:
        raise ValueError(_reason(cls, f"not valid JSON ({exc})")) from None
