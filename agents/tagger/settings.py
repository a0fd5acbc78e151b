"""Settings of the audio tagger. Every field can come from `from_options` (CLI/config strings included); an unknown key or a bad value is a ConfigError at start-up."""
from __future__ import annotations

from dataclasses import dataclass

from scenestream.agents.errors import ConfigError
from scenestream.agents.options import convert
from scenestream.agents.models import default_model, offline

AST_HUB = "MIT/ast-finetuned-audioset-10-10-0.4593"
BACKENDS = ("yamnet", "ast")
YAMNET_WINDOW = 0.96  # YAMNet's input patch: 96 frames of 10 ms


@dataclass
class TaggerSettings:
    """Audio events over sliding windows, merged into spans.

    `backend`: "yamnet" (int8 ONNX from the offline pack, CPU) or "ast" (Audio Spectrogram Transformer through
    transformers); empty = "ast" with a network, "yamnet" without. `model`: a pack name, local dir or hub id; empty =
    the backend's default (MIT/ast-finetuned-audioset-10-10-0.4593, or the pack's `yamnet`).

    `threshold` 0.3: this YAMNet export's scores come in steps (its int8 logits: 0.18, 0.32, 0.5, 0.68, ...), so
    every threshold in (0.18, 0.32] gives the same events. On the desktop sounds, speech and noise the 0.32 step
    still held right second labels (Mechanisms for a camera shutter, White noise), while the 0.18 step was mostly
    wrong (Tick for a bell, Mouse for a shutter). Digital silence scores nothing above 0.01 except "Silence", which
    is never reported.

    `window`/`hop` (seconds): YAMNet's window is its fixed 0.96 s patch (hop 0.48, as YAMNet itself); AST pads every
    window to its 10.24 s training length, so a window costs the same whatever its length: 4 s every 2 s there (5
    model passes per 10 s chunk; window=10 hop=10 is 5x cheaper with 10 s time resolution)."""

    backend: str = ""
    model: str = ""
    threshold: float = 0.3  # a label counts in a window when its score reaches this
    top_k: int = 5  # at most this many labels per window
    window: float = 0.0  # seconds per window; 0 = the backend's default (0.96 yamnet, 4.0 ast)
    hop: float = 0.0  # seconds between window starts; 0 = the backend's default (0.48 yamnet, 2.0 ast)
    threads: int = 2  # onnxruntime intra-op / torch threads (these machines have 2 cores)
    device: str = "auto"  # ast only (auto = CUDA when present); yamnet runs on the CPU, it is tiny
    batch_size: int = 16  # ast windows per model call

    @classmethod
    def from_options(cls, options: dict | None) -> "TaggerSettings":
        return convert(cls, options, "tagger").resolved()

    def resolved(self) -> "TaggerSettings":
        if not self.backend:
            if self.model:
                self.backend = "yamnet" if (offline() or self.model in ("yamnet", "pack:yamnet")) else "ast"
            else:
                self.backend = "yamnet" if default_model("tagger", AST_HUB, "yamnet") == "yamnet" else "ast"
        if self.backend not in BACKENDS:
            raise ConfigError(f"tagger backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if not self.model:
            self.model = "yamnet" if self.backend == "yamnet" else AST_HUB
        if self.backend == "yamnet":
            if self.window and abs(self.window - YAMNET_WINDOW) > 1e-6:
                raise ConfigError(f"yamnet's window is its fixed {YAMNET_WINDOW} s patch; window={self.window} "
                                  "cannot be set (change hop instead)")
            self.window, self.hop = YAMNET_WINDOW, self.hop or 0.48
        else:
            self.window = self.window or 4.0
            self.hop = self.hop or self.window / 2
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"tagger threshold must be within [0, 1], not {self.threshold}")
        if not 0 < self.hop <= self.window:
            raise ConfigError(f"tagger hop must be positive and at most the window ({self.window} s), "
                              f"or audio between windows would go unheard; got {self.hop}")
        for key in ("top_k", "threads", "batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"tagger {key} must be at least 1")
        return self
