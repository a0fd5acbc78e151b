from __future__ import annotations

from dataclasses import dataclass, fields

from agents.models import offline

AST_HUB = "MIT/ast-finetuned-audioset-10-10-0.4593"


@dataclass
class TaggerSettings:
    """Audio events. `backend`: "yamnet" (int8 ONNX from the offline pack) or "ast" (Audio Spectrogram Transformer
    through transformers). `model`: a pack name, local dir or hub id; empty = the backend's default (AST from the
    hub when online, YAMNet from the pack when offline)."""

    backend: str = ""  # "" = ast online, yamnet offline
    model: str = ""
    threshold: float = 0.2  # a label counts in a window when its score reaches this
    top_k: int = 5  # labels kept per window
    window: float = 0.96  # seconds per window (YAMNet's patch; AST windows are cut the same way)
    hop: float = 0.48
    threads: int = 2
    device: str = "auto"
    batch_size: int = 32  # windows per model call

    @classmethod
    def from_options(cls, options: dict) -> "TaggerSettings":
        known = {f.name: f for f in fields(cls)}
        kw = {}
        for key, value in (options or {}).items():
            if key in known:
                default = getattr(cls, key, None)
                kw[key] = type(default)(value) if default is not None and not isinstance(value, type(default)) else value
        s = cls(**kw)
        if not s.backend:
            s.backend = "yamnet" if (offline() or s.model in ("yamnet", "pack:yamnet")) else "ast"
        if not s.model:
            s.model = "yamnet" if s.backend == "yamnet" else AST_HUB
        if s.backend == "ast" and "window" not in (options or {}):
            s.window, s.hop = 4.0, 2.0  # AST was trained on 10 s clips: sub-second windows waste its context
        return s
