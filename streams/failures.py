"""Turning an agent's unexpected exception into the error record of the window it was working on, so the joiner
marks that field missing with the reason instead of waiting for it forever."""
from __future__ import annotations

from typing import Any

from schemas import AudioChunk, AudioTags, Detections, FrameBatch, Scene, Transcript, VlmCaption

OUTPUT_OF = {"asr": Transcript, "tagger": AudioTags, "detector": Detections, "captioner": VlmCaption}


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def error_record(agent: str, record: Any, exc: BaseException, model: str = "") -> Any:
    if agent not in OUTPUT_OF or not isinstance(record, (AudioChunk, FrameBatch, Scene)):
        raise ValueError(f"no error record for agent {agent!r} on {type(record).__name__}")
    return OUTPUT_OF[agent](record.video_id, record.index, record.start, record.end, model=model,
                            last=record.last, error=one_line(exc))
