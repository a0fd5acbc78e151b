"""Make the golden records of tests/behaviour/test_same_records.py from an earlier commit:

    python -m tests.behaviour.golden REV

checks REV out into a temporary worktree, imports its code (not this checkout's) through a `scenestream` folder of
links put first on PYTHONPATH, and runs bikes.mp4 and the synthetic clip with the default agents through
`scenestream run` and through Kafka (`worker` + `submit` + `tail`, on a broker started by deploy/kafka/start).
Each video's records, without timings and emitted_at, go to tests/behaviour/golden/NAME.json, per runtime, with the
commit and the machine's kernel facts (the models' numbers depend on them; see the test)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from tests import media
from tests.behaviour.records import VIDEOS, kernel_facts, normalise

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def _lines(raw: bytes) -> list[dict]:
    return [normalise(orjson.loads(line)) for line in raw.splitlines() if line.strip()]


def via_run(env: dict, tmp: Path) -> dict[str, list[dict]]:
    out = {}
    for name, source in VIDEOS.items():
        subprocess.run([sys.executable, "-m", "scenestream.streams", "run", str(getattr(media, source)()), "--out",
                        str(tmp / name), "-q", "--video-id", name], env=env, cwd=tmp, check=True)
        out[name] = _lines((tmp / name / "captions.jsonl").read_bytes())
    return out


def via_kafka(env: dict, tmp: Path) -> dict[str, list[dict]]:
    data = tmp / "kafka"
    broker = subprocess.run([str(ROOT / "deploy/kafka/start"), "--port", "0", "--data-dir", str(data)], check=True,
                            capture_output=True, text=True).stdout.strip().splitlines()[-1]
    env = dict(env, SCENESTREAM_BROKER=broker, SCENESTREAM_PREFIX=f"golden-{os.getpid()}.")
    defaults = subprocess.run([sys.executable, "-c", "from scenestream.streams.core import table; "
                               "print(','.join(table.defaults()))"], env=env, cwd=tmp, check=True,
                              capture_output=True, text=True).stdout.strip()
    worker = subprocess.Popen([sys.executable, "-m", "scenestream.streams", "worker", "--agents",
                               f"ingest,{defaults},joiner", "--store", "memory://", "--data-dir", str(tmp / "w")],
                              env=env, cwd=tmp, stdout=subprocess.PIPE, text=True)
    out = {}
    try:
        for line in worker.stdout:
            if line.startswith("scenestream worker ready"):
                break
        for name, source in VIDEOS.items():
            subprocess.run([sys.executable, "-m", "scenestream.streams", "submit", str(getattr(media, source)()),
                            "--video-id", name], env=env, cwd=tmp, check=True, capture_output=True)
            tail = subprocess.run([sys.executable, "-m", "scenestream.streams", "tail", "--video-id", name,
                                   "--until-done", "--timeout", "500"], env=env, cwd=tmp, check=True,
                                  capture_output=True)
            out[name] = _lines(tail.stdout)
    finally:
        worker.terminate()
        worker.wait(60)
        subprocess.run([str(ROOT / "deploy/kafka/stop"), "--data-dir", str(data), "--purge"], capture_output=True)
    return out


def main(rev: str) -> int:
    commit = subprocess.run(["git", "rev-parse", rev], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tree, ns = tmp / "tree", tmp / "ns" / "scenestream"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            ns.mkdir(parents=True)
            for folder in ("agents", "schemas", "streams"):
                (ns / folder).symlink_to(tree / folder)
            env = dict(os.environ, PYTHONPATH=str(ns.parent), HF_HUB_OFFLINE="1", YOLO_OFFLINE="1",
                       SCENESTREAM_OFFLINE="1", PYTHONUNBUFFERED="1")
            where = subprocess.run([sys.executable, "-c", "import scenestream.streams as s; print(s.__file__)"],
                                   env=env, cwd=tmp, capture_output=True, text=True, check=True).stdout.strip()
            assert str(Path(where).resolve()).startswith(str(tree.resolve())), f"imported {where}, not {tree}'s code"
            t0 = time.monotonic()
            runs = {"run": via_run(env, tmp), "kafka": via_kafka(env, tmp)}
            for name in VIDEOS:
                doc = {"commit": commit, "kernels": kernel_facts(), "records": {k: v[name] for k, v in runs.items()}}
                (HERE / f"{name}.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
                print(HERE / f"{name}.json", {k: len(v[name]) for k, v in runs.items()}, "scenes")
            print(f"in {time.monotonic() - t0:.0f} s")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "HEAD"))
