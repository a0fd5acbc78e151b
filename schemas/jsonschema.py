"""JSON Schema (draft 2020-12) for every record, generated from the dataclasses so that outside consumers (search
indexers, other languages) can validate what they read. `python -m schemas.jsonschema` rewrites `schemas/json/`;
a test fails when the committed files drift from the dataclasses."""
from __future__ import annotations

import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any

import orjson

from schemas.codec import _hints
from schemas.records import SCHEMA_VERSION
from schemas.topics import RECORDS_BY_TOPIC

JSON_DIR = Path(__file__).parent / "json"


def _type_schema(tp: Any, defs: dict) -> dict:
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is bytes:
        return {"type": "string", "contentEncoding": "base64"}
    if dataclasses.is_dataclass(tp):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # placeholder against recursion
            defs[tp.__name__] = _object_schema(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(a, defs) if a is not type(None) else {"type": "null"} for a in args]}
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0], defs) if args else {}}
    if origin is dict:
        out: dict = {"type": "object"}
        if len(args) == 2:
            out["additionalProperties"] = _type_schema(args[1], defs)
        return out
    if tp is dict:
        return {"type": "object"}
    if tp is list:
        return {"type": "array"}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _object_schema(cls: type, defs: dict) -> dict:
    hints = _hints(cls)
    props, required = {}, []
    for f in dataclasses.fields(cls):
        props[f.name] = _type_schema(hints[f.name], defs)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    out = {"type": "object", "title": cls.__name__, "properties": props, "required": required}
    if cls.__doc__:
        out["description"] = " ".join(cls.__doc__.split())
    return out


def schema_for(cls: type, topic: str) -> dict:
    defs: dict = {}
    body = _object_schema(cls, defs)
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"scenestream/{topic}.v{SCHEMA_VERSION}.schema.json",
        **body,
    }
    if defs:
        doc["$defs"] = dict(sorted(defs.items()))
    return doc


def render_all() -> dict[str, bytes]:
    """File name -> contents of every generated schema file."""
    return {
        f"{topic}.schema.json": orjson.dumps(schema_for(cls, topic), option=orjson.OPT_INDENT_2) + b"\n"
        for topic, cls in RECORDS_BY_TOPIC.items()
    }


def main() -> int:
    JSON_DIR.mkdir(exist_ok=True)
    for name, data in render_all().items():
        (JSON_DIR / name).write_bytes(data)
        print(JSON_DIR / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
