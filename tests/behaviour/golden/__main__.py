"""Make the golden records of tests/behaviour/test_same_records.py from an earlier commit:

    python -m tests.behaviour.golden REV

checks REV out into a temporary worktree, imports its code (not this checkout's) through a `scenestream` folder of
links put first on PYTHONPATH, runs `scenestream run` on bikes.mp4 and the synthetic clip with the default agents,
and writes each video's records, without timings and emitted_at, to tests/behaviour/golden/NAME.json with the
commit and the machine's kernel facts (the records' numbers depend on them; see the test)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

from tests import media
from tests.behaviour.records import VIDEOS, kernel_facts, normalise

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def main(rev: str) -> int:
    commit = subprocess.run(["git", "rev-parse", rev], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        tree, ns = Path(tmp) / "tree", Path(tmp) / "ns" / "scenestream"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            ns.mkdir(parents=True)
            for folder in ("agents", "schemas", "streams"):
                (ns / folder).symlink_to(tree / folder)
            env = dict(os.environ, PYTHONPATH=str(ns.parent), HF_HUB_OFFLINE="1", YOLO_OFFLINE="1",
                       SCENESTREAM_OFFLINE="1")
            where = subprocess.run([sys.executable, "-c", "import scenestream.streams as s; print(s.__file__)"],
                                   env=env, cwd=tmp, capture_output=True, text=True, check=True).stdout.strip()
            assert str(Path(where).resolve()).startswith(str(tree.resolve())), f"imported {where}, not the worktree's code"
            for name, source in VIDEOS.items():
                out = Path(tmp) / name
                subprocess.run([sys.executable, "-m", "scenestream.streams", "run", str(getattr(media, source)()),
                                "--out", str(out), "-q", "--video-id", name], env=env, cwd=tmp, check=True)
                records = [normalise(orjson.loads(line)) for line in (out / "captions.jsonl").read_bytes().splitlines()]
                doc = {"commit": commit, "kernels": kernel_facts(), "records": records}
                (HERE / f"{name}.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
                print(HERE / f"{name}.json", len(records), "scenes")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "HEAD"))
