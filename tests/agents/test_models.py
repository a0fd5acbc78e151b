import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agents.errors import ConfigError
from agents.models import PACK, pick_device, resolve_model

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
