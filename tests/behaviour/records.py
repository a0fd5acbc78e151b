"""Records compared across runtimes and commits: what is left of a SceneCaption once the fields that differ on
every run (timings, emitted_at) are gone, and the part of it that no numeric kernel can change."""
from __future__ import annotations

import os
from pathlib import Path

VIDEOS = {"bikes": "bikes", "synth": "synth_clip"}  # golden name -> tests.media function
VOLATILE = ("timings", "emitted_at")
# Decoding, scene cuts and the joiner's bookkeeping are exact on any CPU; the models' outputs (words, boxes, labels,
# captions made of labels) move with the kernels: bf16 on AMX, f32 elsewhere, int8 paths per ISA.
EXACT = ("video_id", "index", "start", "end", "keyframe_times", "last", "captioner", "schema_version")


def normalise(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in VOLATILE}


def exact_part(record: dict) -> dict:
    return {**{k: record.get(k) for k in EXACT}, "fields": sorted(record), "missing": sorted(record.get("missing", {}))}


def kernel_facts() -> dict:
    """What the models' numbers depend on: the CPU's matrix extensions and the detector's forced precision."""
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    wanted = ("amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx512f", "avx2")
    return {"flags": [f for f in wanted if f in flags],
            "openvino_precision": os.environ.get("SCENESTREAM_OPENVINO_PRECISION", "")}


def _strip_added(now, then):
    """`now` without what it has and `then` lacks, at any depth, provided that it is an empty default."""
    if isinstance(now, dict) and isinstance(then, dict):
        added = set(now) - set(then)
        assert all(now[k] in ({}, [], "", None) for k in added), {k: now[k] for k in added}
        return {k: _strip_added(v, then[k]) for k, v in now.items() if k not in added}
    if isinstance(now, list) and isinstance(then, list) and len(now) == len(then):
        return [_strip_added(a, b) for a, b in zip(now, then)]
    return now


def without_additions(now: dict, then: dict) -> tuple[dict, dict]:
    """`now` and `then` (a golden record), comparable across schema versions: fields added since the golden's
    commit, at any depth (a word's `speaker`, a transcript's `translation`), must hold their empty default (an
    added field may not change what the old ones say) and are left out, with the version number itself."""
    now = {k: v for k, v in now.items() if k != "schema_version"}
    then = {k: v for k, v in then.items() if k != "schema_version"}
    # An agent added to the table since is reported "not enabled" where it does not run: not a change of the old.
    now["missing"] = {k: v for k, v in now.get("missing", {}).items()
                      if k in then.get("missing", {}) or v != "not enabled"}
    return _strip_added(now, then), then
