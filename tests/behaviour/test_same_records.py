"""bikes.mp4 and the synthetic clip through every way of running scenestream, with the default agents:
`scenestream run`, Kafka (`worker` + `submit` + `tail` on the real broker) and `serve` (its HTTP API, embedded
runner). All three give the same records (timings and emitted_at aside; the detector's fields
differ by JPEG compression between the runtimes), and each the same records as at the commit before the house was
rebuilt (tests/behaviour/golden, made by `python -m tests.behaviour.golden 16329cd`).

Against the golden files, every field is compared when this machine has the kernels they were made on; elsewhere
the fields no kernel can move (bounds, keyframe times, which fields, which are missing, the captioner), since the
models' numbers follow bf16/f32 and the int8 paths of each CPU."""
from __future__ import annotations

import os
import sys
import subprocess
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from scenestream.streams.core import table
from scenestream.streams.core.metrics import Metrics
from scenestream.streams.server.app import ServeSettings, create_app
from tests import media
from tests.behaviour.records import VIDEOS, exact_part, kernel_facts, normalise, without_additions
from tests.kafka.kafkatools import WorkerProcess, scenestream

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
OFFLINE = {"HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1", "SCENESTREAM_OFFLINE": "1"}


def differences(a: list[dict], b: list[dict]) -> list[tuple]:
    """(scene, field, one, other) wherever two runs' records differ."""
    out = [("count", len(a), len(b))] if len(a) != len(b) else []
    for x, y in zip(a, b):
        out += [(x.get("index"), k, x.get(k), y.get(k)) for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)]
    return out


def _jsonl(path: Path) -> list[dict]:
    return [normalise(orjson.loads(line)) for line in path.read_bytes().splitlines() if line.strip()]


def via_run(tmp: Path) -> dict[str, list[dict]]:
    out = {}
    for name, source in VIDEOS.items():
        proc = subprocess.run([sys.executable, "-m", "streams", "run", str(getattr(media, source)()), "--out",
                               str(tmp / name), "-q", "--video-id", name], capture_output=True, text=True,
                              timeout=600, env=dict(os.environ, **OFFLINE), cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out[name] = _jsonl(tmp / name / "captions.jsonl")
    return out


def via_kafka(broker: str, tmp: Path) -> dict[str, list[dict]]:
    prefix = f"scenestream-test-same-{os.getpid()}."
    out = {}
    with WorkerProcess(broker, prefix, ",".join(["ingest", *table.defaults(), "joiner"]), tmp):
        for name, source in VIDEOS.items():
            sub = scenestream(broker, prefix, "submit", str(getattr(media, source)()), "--video-id", name)
            assert sub.returncode == 0, sub.stderr
            tail = scenestream(broker, prefix, "tail", "--video-id", name, "--until-done", "--timeout", "500",
                               timeout=560)
            assert tail.returncode == 0, tail.stderr[-2000:]
            out[name] = [normalise(orjson.loads(line)) for line in tail.stdout.splitlines() if line.strip()]
    return out


def via_serve(tmp: Path) -> dict[str, list[dict]]:
    folders = sorted({getattr(media, source)().parent for source in VIDEOS.values()})
    settings = ServeSettings(db=tmp / "index.db", out=tmp / "runs", allow_dirs=folders)  # serve's --allow-dir
    out = {}
    with TestClient(create_app(settings, Metrics()), base_url="http://127.0.0.1") as client:  # no token: loopback
        for name, source in VIDEOS.items():
            r = client.post("/api/videos", json={"source": str(getattr(media, source)()), "video_id": name})
            assert r.status_code == 202, r.text
            r = client.get(f"/api/videos/{name}/wait", params={"timeout": 600})
            assert r.status_code == 200 and r.json()["status"] == "done", r.text
            out[name] = _jsonl(settings.out / name / "captions.jsonl")
    return out


@pytest.fixture(scope="module")
def records(request, tmp_path_factory, broker):
    return {"run": via_run(tmp_path_factory.mktemp("run")),
            "kafka": via_kafka(broker, tmp_path_factory.mktemp("kafka")),
            "serve": via_serve(tmp_path_factory.mktemp("serve"))}


# The embedded runtime hands the detector decoded pictures; Kafka carries frames as JPEGs, whose compression moves
# the detector's boxes and confidences a little: those fields differ between the runtimes (each equals its own
# golden), everything else is the same.
FROM_JPEG_FRAMES = {"tracks", "objects"}


@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.parametrize("video", sorted(VIDEOS))
def test_every_runtime_gives_the_same_records(records, video):
    run = records["run"][video]
    assert len(run) == {"bikes": 6, "synth": 4}[video]
    assert differences(records["serve"][video], run) == []
    assert [d for d in differences(records["kafka"][video], run) if d[1] not in FROM_JPEG_FRAMES] == []


@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.parametrize("video", sorted(VIDEOS))
@pytest.mark.parametrize("way", ["run", "kafka", "serve"])
def test_the_records_are_those_of_before_the_change(records, video, way):
    golden = orjson.loads((GOLDEN / f"{video}.json").read_bytes())
    then = golden["records"]["kafka" if way == "kafka" else "run"]  # serve runs the embedded runtime
    assert len(records[way][video]) == len(then)
    now, then = zip(*(without_additions(n, t) for n, t in zip(records[way][video], then)))
    if golden["kernels"] == kernel_facts():
        assert differences(list(now), list(then)) == []
    else:
        print(f"kernels differ from the golden's ({golden['kernels']} here {kernel_facts()}): exact fields only")
        assert [exact_part(r) for r in now] == [exact_part(r) for r in then]
