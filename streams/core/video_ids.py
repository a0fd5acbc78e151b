"""Video ids made from a source, for every way a video is started (`run`, `submit`, the web UI)."""
from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path


def video_id(source: str, fresh: bool = False) -> str:
    """`<file stem>-<hash of the source>`, in letters, digits and `._-` only (it names files and Kafka keys).

    `fresh` adds a random part, for Kafka mode and the web UI: the joiner remembers finished ids (to ignore replays
    after a crash), so a source submitted again needs a new id to be processed again. `run` is deterministic: the
    same source gives the same id."""
    stem = Path(source.split("?")[0].rstrip("/")).stem or "video"
    digest = hashlib.sha1(source.encode()).hexdigest()
    vid = f"{stem[:40]}-{digest[:6]}-{uuid.uuid4().hex[:6]}" if fresh else f"{stem[:40]}-{digest[:8]}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", vid).lstrip("._-") or "video"
