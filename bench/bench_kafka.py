"""Kafka mode against the embedded runtime: wall time of one video, same agents, same machine.

Embedded: `scenestream run` in a subprocess; its summary's `wall_seconds` is the pipeline alone (model loading
excluded). Kafka: one `scenestream worker` (models loaded, ready) and a real broker; the time runs from
`submit` until `tail --until-done` has printed the last scene (so it includes the broker hops, the joiner's
transactions and the reading client). Runs alternate between the two; the median of each is compared.

    python bench/bench_kafka.py [--minutes 5] [--runs 2] [--agents asr]

Uses $SCENESTREAM_BROKER when set, else starts a broker with deploy/kafka/start (and stops it).
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from bench.machine import record  # noqa: E402
from scenestream.streams.core import table  # noqa: E402
from tests import media  # noqa: E402
from tests.kafka.kafkatools import OFFLINE, WorkerProcess, scenestream  # noqa: E402

TARGET = 1.25


def embedded(video: Path, agents: str) -> dict:
    out = tempfile.mkdtemp(prefix="scenestream-bench-")
    proc = subprocess.run([sys.executable, "-m", "streams", "run", str(video), "--out", out, "-q", "--agents", agents],
                          capture_output=True, text=True, env=dict(os.environ, **OFFLINE))
    if proc.returncode != 0:
        raise SystemExit(f"embedded run failed: {proc.stderr}")
    summary = orjson.loads((Path(out) / "summary.json").read_bytes())
    return {"wall": summary["wall_seconds"], "scenes": summary["scenes"]}


def kafka(broker: str, prefix: str, video: Path, run: int) -> dict:
    vid = f"bench-{run}"
    t0 = time.perf_counter()
    sub = scenestream(broker, prefix, "submit", str(video), "--video-id", vid)
    if sub.returncode != 0:
        raise SystemExit(f"submit failed: {sub.stderr}")
    tail = scenestream(broker, prefix, "tail", "--video-id", vid, "--until-done", "--timeout", "3600", timeout=3700)
    wall = time.perf_counter() - t0
    if tail.returncode != 0:
        raise SystemExit(f"tail failed: {tail.stderr}")
    return {"wall": wall, "scenes": len(tail.stdout.splitlines())}


def start_broker() -> tuple[str, str | None]:
    if os.environ.get("SCENESTREAM_BROKER"):
        return os.environ["SCENESTREAM_BROKER"], None
    data = tempfile.mkdtemp(prefix="scenestream-bench-kafka-")
    out = subprocess.run([str(ROOT / "deploy/kafka/start"), "--port", "0", "--data-dir", data],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1], data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--agents", default=",".join(table.available()),
                    help="model agents for both runtimes (default: all installed)")
    args = ap.parse_args()
    video = media.long_video(args.minutes)
    agents = args.agents
    broker, data = start_broker()
    prefix = f"scenestream-bench-{secrets.token_hex(3)}."
    work = Path(tempfile.mkdtemp(prefix="scenestream-bench-worker-"))
    worker_agents = ",".join(["ingest", *[a for a in agents.split(",") if a], "joiner"])
    sources = agents or "none"
    emb, kaf = [], []
    try:
        with WorkerProcess(broker, prefix, worker_agents, work, "-o", f"joiner.sources={sources}",
                           store="rocksdb://", session_timeout=30.0):
            for run in range(args.runs):
                emb.append(embedded(video, agents))
                print(f"embedded run {run}: {emb[-1]['wall']:.1f} s, {emb[-1]['scenes']} scenes", flush=True)
                kaf.append(kafka(broker, prefix, video, run))
                print(f"kafka    run {run}: {kaf[-1]['wall']:.1f} s, {kaf[-1]['scenes']} scenes", flush=True)
    finally:
        if data:
            subprocess.run([str(ROOT / "deploy/kafka/stop"), "--data-dir", data, "--purge"], capture_output=True)
    e = statistics.median(r["wall"] for r in emb)
    k = statistics.median(r["wall"] for r in kaf)
    ratio = k / e
    seconds = args.minutes * 60
    runs = {name: ", ".join(f"{r['wall']:.1f}" for r in rs) for name, rs in (("embedded", emb), ("kafka", kaf))}
    table = ("| runtime | runs (s) | median s | RTF | scenes |\n|---|---|---|---|---|\n"
             f"| embedded | {runs['embedded']} | {e:.1f} | {e / seconds:.3f} | {emb[0]['scenes']} |\n"
             f"| kafka | {runs['kafka']} | {k:.1f} | {k / seconds:.3f} | {kaf[0]['scenes']} |")
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    record(f"Kafka mode vs embedded: {args.minutes:g}-minute video (agents: {agents or 'none'})",
           f"One worker (ingest,{agents + ',' if agents else ''}joiner; exactly_once, rocksdb table) on a local "
           f"single-node broker on the same machine; Kafka time = submit until `tail --until-done` printed the last "
           f"scene; embedded time = the run's wall_seconds (model loading excluded in both).\n\n{table}\n\n"
           f"Ratio Kafka/embedded: **{ratio:.3f}** (target <= {TARGET}) — {verdict}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
