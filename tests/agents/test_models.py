import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from scenestream.agents.errors import ConfigError
from scenestream.agents.models import PACK, pick_device, resolve_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(PACK))
def test_every_pack_model_resolves_to_real_files(name):
    src = resolve_model(name)
    assert src.kind == "pack" and src.local
    path = Path(src.location)
    assert path.exists()
    if path.is_dir():
        assert any(path.iterdir())
    assert resolve_model(f"pack:{name}") == src


def test_whisper_base_is_assembled_from_its_two_parts():
    path = Path(resolve_model("whisper-base").location)
    parts = [Path(p.package_dir()) for p in [PACK["whisper-base"]]]
    size = (parts[0] / "data" / "model.bin.part1").stat().st_size
    assert (path / "model.bin").stat().st_size > size  # both parts
    assert {"config.json", "tokenizer.json", "vocabulary.json"} <= {p.name for p in path.iterdir()}


def test_hub_ids_and_local_dirs(tmp_path):
    assert resolve_model("llava-hf/llava-v1.6-mistral-7b-hf").kind == "hub"
    assert resolve_model(str(tmp_path)).kind == "dir"
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model("./no/such/model")
    with pytest.raises(ConfigError, match="no offline model"):
        resolve_model("pack:nothing")


def test_device_choice():
    assert pick_device("cpu") == "cpu"
    assert pick_device("auto") in ("cpu", "cuda")
    with pytest.raises(ConfigError):
        pick_device("tpu")


def test_cuda_without_a_gpu_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="no CUDA device"):
        pick_device("cuda")


def test_pack_list_equals_pyproject_extra():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["pack"]
    lines = [line.strip() for line in (ROOT / "deploy" / "pack.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert sorted(extra) == sorted(lines)


def test_models_list_command():
    proc = subprocess.run([sys.executable, "-m", "streams", "models", "list"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name in PACK:
        assert name in proc.stdout
    assert "not installed" not in proc.stdout


# ------------------------------------------------------------------------ defaults without a network
# No network is simulated without touching one: the hub endpoint and every HTTP(S) proxy point at port 9 on this
# machine (discard: nothing listens, the connection is refused at once), and the offline switches are unset.
NO_NETWORK = {"HF_ENDPOINT": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
              "HTTPS_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
              "https_proxy": "http://127.0.0.1:9"}
OFFLINE_SWITCHES = ("HF_HUB_OFFLINE", "SCENESTREAM_OFFLINE", "YOLO_OFFLINE", "TRANSFORMERS_OFFLINE", "NO_PROXY",
                    "no_proxy")


@pytest.fixture
def fresh_probe(monkeypatch):
    """The reachability answers and notices are per process; each test starts without them."""
    from scenestream.agents import models

    monkeypatch.setattr(models, "_reachable", {})
    monkeypatch.setattr(models, "_noticed", set())
    for name in OFFLINE_SWITCHES:
        monkeypatch.delenv(name, raising=False)
    return models


def test_unreachable_hub_falls_back_to_the_pack_with_one_notice(fresh_probe, monkeypatch, caplog):
    from scenestream.agents.asr.settings import HUB_DEFAULT, AsrSettings
    from scenestream.agents.tagger.settings import TaggerSettings

    for k, v in NO_NETWORK.items():
        monkeypatch.setenv(k, v)
    with caplog.at_level("WARNING", logger="scenestream.agents.models"):
        assert AsrSettings().model_spec() == "whisper-tiny.en"
        assert AsrSettings().model_spec() == "whisper-tiny.en"  # asked twice, said once
        assert TaggerSettings.from_options({}).backend == "yamnet"
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 2 and all("\n" not in n for n in notices)
    assert notices[0].startswith("asr:") and HUB_DEFAULT in notices[0] and "whisper-tiny.en" in notices[0]
    assert notices[1].startswith("tagger:") and "yamnet" in notices[1]
    # A model the user names is never substituted.
    assert AsrSettings(model="Systran/faster-whisper-large-v3").model_spec() == "Systran/faster-whisper-large-v3"
    assert TaggerSettings.from_options({"backend": "ast"}).model.startswith("MIT/ast")


def test_reachable_hub_keeps_the_hub_defaults(fresh_probe, monkeypatch, caplog):
    """A local server stands in for the hub: any HTTP answer means the hub can be reached."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    from scenestream.agents.asr.settings import HUB_DEFAULT, AsrSettings
    from scenestream.agents.detector.settings import DetectorSettings
    from scenestream.agents.tagger.settings import TaggerSettings

    class NotFound(BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.setattr(fresh_probe, "_reachable", {fresh_probe.ULTRALYTICS_ASSETS: True})  # not asked here
        with caplog.at_level("WARNING", logger="scenestream.agents.models"):
            assert AsrSettings().model_spec() == HUB_DEFAULT
            assert TaggerSettings.from_options({}).backend == "ast"
            assert DetectorSettings.from_options({}).model == "yolo11n.pt"
        assert caplog.records == []
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_run_without_network_and_without_the_offline_switch_uses_the_pack(tmp_path):
    """The issue as a user met it: `scenestream run clip.mp4` with no network and no SCENESTREAM_OFFLINE=1."""
    import json
    import os

    from tests import media

    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_SWITCHES} | NO_NETWORK
    proc = subprocess.run([sys.executable, "-m", "streams", "run", str(media.synth_clip()), "--out", str(tmp_path),
                           "-q", "--agents", "asr,tagger,detector"], capture_output=True, text=True, timeout=600,
                          env=env, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-3000:]
    notices = [line for line in proc.stderr.splitlines() if "offline pack" in line]
    assert len(notices) == 3, proc.stderr
    for agent, pack in (("asr", "whisper-tiny.en"), ("tagger", "yamnet"), ("detector", "person-yolov8")):
        assert sum(line.startswith(f"{agent}:") and pack in line for line in notices) == 1, notices
    summary = json.loads((tmp_path / "summary.json").read_text())
    models = json.dumps(summary)
    assert "whisper-tiny.en" in models and "person-yolov8" in models, summary
