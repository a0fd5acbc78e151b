"""Handling a batch of inputs for one agent: the one function both runtimes call.

The runtimes only move records (in-process queues, or Kafka topics with acknowledgements and transactions); what
happens to a batch is decided here: call `process`/`process_batch`, keep the outputs of the agent's record type,
turn an exception into an error record for exactly those inputs (the joiner marks the field missing with the
reason instead of waiting forever), strip keyframe JPEGs for internal topics, and make the one-line `failed`
event of an internal error.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from scenestream.agents.base import Agent
from scenestream.agents.errors import one_line
from scenestream.schemas import FrameBatch, Scene, VideoEvent
from scenestream.streams.core.table import AgentSpec

log = logging.getLogger(__name__)


def batches(spec: AgentSpec, proc: Agent) -> int:
    """How many inputs to gather per call: the agent's `max_batch` when its table entry says it batches, else 1."""
    return max(1, int(proc.max_batch)) if spec.batches else 1


def error_record(spec: AgentSpec, record: Any, exc: BaseException, model: str = "") -> Any:
    """The agent's output for `record`'s window, carrying the error instead of a result."""
    return spec.output_type(video_id=record.video_id, index=record.index, start=record.start, end=record.end,
                            model=model, last=record.last, error=one_line(exc))


def run_batch(spec: AgentSpec, proc: Agent, records: list) -> list:
    """Outputs of `proc` for `records` (in a worker thread: this blocks on the model)."""
    if not records:
        return []
    try:
        if len(records) > 1 or spec.batches:
            outputs = list(proc.process_batch(records))
        else:
            outputs = list(proc.process(records[0]))
    except Exception as exc:  # one bad window must not stop the video: report it on the record
        log.warning("%s failed on %s: %s", spec.name, ", ".join(f"{r.video_id}:{r.index}" for r in records),
                    one_line(exc))
        return [error_record(spec, r, exc, proc.model_id) for r in records]
    return [o for o in outputs if isinstance(o, spec.output_type)]


def strip_jpegs(record: Any) -> Any:
    """The record without its JPEG bytes (kept: times, width, height): what the joiner and internal topics need."""
    if isinstance(record, Scene):
        return dataclasses.replace(record, keyframes=[dataclasses.replace(k, jpeg=b"") for k in record.keyframes])
    if isinstance(record, FrameBatch):
        return dataclasses.replace(record, frames=[dataclasses.replace(f, jpeg=b"") for f in record.frames])
    return record


def internal_error(video_id: str, uri: str, exc: BaseException) -> VideoEvent:
    """A bug (not bad input, which ingest turns into its own events) still ends the video cleanly, in one line."""
    return VideoEvent(video_id, "failed", time=time.time(), uri=uri, code="internal_error", message=one_line(exc))
