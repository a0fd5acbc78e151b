"""Four videos at once on one Kafka worker and on two: wall time and each worker's peak memory.

For each setting a fresh topic prefix and fresh `scenestream worker` processes (same agents, one consumer group);
once every worker is ready, four requests are submitted back to back and the time runs until the last video's
`done` event (the joiner's own clock, so no reading client is timed). Every video is then read back with
`tail --until-done` and must have all its scenes. A worker's peak memory is the kernel's high-water mark of its
resident set (VmHWM in /proc/PID/status, read just before it is stopped), so nothing is sampled or missed; its
resident set when ready is shown beside it. The four video ids are chosen to fall in four different partitions of
`videos`, so two workers get two videos each. Figures, not pass marks: they are printed and appended to
bench/RESULTS.md with the machine.

    python bench/bench_reliability.py [--minutes 1] [--agents ""] [--workers 1,2]

--agents: the model agents besides ingest and the joiner (default none: scene bounds only). Uses
$SCENESTREAM_BROKER when set, else starts a broker with deploy/kafka/start (and stops it).
"""
from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from aiokafka.partitioner import DefaultPartitioner  # noqa: E402

from bench.bench_kafka import start_broker  # noqa: E402
from bench.machine import record  # noqa: E402
from tests import media  # noqa: E402
from tests.kafka.kafkatools import WorkerProcess, read_topic, scenestream  # noqa: E402

PARTITIONS = 4  # the worker's default for every topic


def memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} for pid {pid}")


def video_ids(tag: str, n: int = 4) -> list[str]:
    """n ids whose keys the producer's default partitioner (murmur2) sends to n different partitions."""
    part, taken, ids, i = DefaultPartitioner(), set(), [], 0
    every = list(range(PARTITIONS))
    while len(ids) < n:
        vid = f"{tag}-{i}"
        p = part(vid.encode(), every, every)
        if p not in taken:
            taken.add(p)
            ids.append(vid)
        i += 1
    return ids


def one_setting(broker: str, workers: int, video: Path, agents: str, work: Path) -> dict:
    prefix = f"scenestream-bench-rel-{secrets.token_hex(3)}."
    names = ",".join(["ingest", *[a for a in agents.split(",") if a], "joiner"])
    extra = ("-o", f"joiner.sources={agents or 'none'}")
    procs = [WorkerProcess(broker, prefix, names, work / f"{workers}-{k}", *extra, store="rocksdb://",
                           session_timeout=30.0) for k in range(workers)]
    for w in procs:
        w.start()
    try:
        ready_mb = [memory_mb(w.pid, "VmRSS") for w in procs]
        ids = video_ids(f"four-{workers}w")
        t0 = time.time()
        for vid in ids:
            sub = scenestream(broker, prefix, "submit", str(video), "--video-id", vid)
            if sub.returncode != 0:
                raise SystemExit(f"submit failed: {sub.stderr}")
        done: dict[str, float] = {}
        deadline = time.monotonic() + 3600
        while len(done) < len(ids):
            if time.monotonic() > deadline:
                raise SystemExit(f"not done within an hour: {sorted(set(ids) - set(done))}")
            for w in procs:
                if w.proc.poll() is not None:
                    raise SystemExit(f"a worker died:\n{w.stderr_tail()}")
            for r in read_topic(broker, prefix, "video-events", timeout=10):
                ev = orjson.loads(r.value)
                if ev["kind"] == "failed":
                    raise SystemExit(f"{ev['video_id']} failed: {ev['code']}: {ev['message']}")
                if ev["kind"] == "done":
                    done[ev["video_id"]] = ev["time"]
            time.sleep(1)
        peak_mb = [memory_mb(w.pid, "VmHWM") for w in procs]
        scenes = {}
        for vid in ids:  # every scene of every video, read back as a user would
            tail = scenestream(broker, prefix, "tail", "--video-id", vid, "--until-done", "--timeout", "120",
                               timeout=180)
            caps = [orjson.loads(line) for line in tail.stdout.splitlines() if line.strip()]
            if tail.returncode != 0 or [c["index"] for c in caps] != list(range(len(caps))) or not caps[-1]["last"]:
                raise SystemExit(f"{vid}: incomplete ({tail.returncode}): {tail.stderr}")
            scenes[vid] = len(caps)
    finally:
        for w in procs:
            w.stop()
    latencies = sorted(done[v] - t0 for v in ids)
    return {"workers": workers, "wall": max(latencies), "latencies": latencies, "ready_mb": ready_mb,
            "peak_mb": peak_mb, "scenes": sum(scenes.values())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=1)
    ap.add_argument("--agents", default="", help="model agents besides ingest and the joiner (default: none)")
    ap.add_argument("--workers", default="1,2", help="worker counts to run, in order (default 1,2)")
    args = ap.parse_args()
    video = media.long_video(args.minutes)
    broker, data = start_broker()
    work = Path(tempfile.mkdtemp(prefix="scenestream-bench-rel-"))
    rows = []
    load_before = os.getloadavg()[0]
    try:
        for n in (int(x) for x in args.workers.split(",")):
            r = one_setting(broker, n, video, args.agents, work)
            rows.append(r)
            print(f"{n} worker(s): wall {r['wall']:.1f} s; done after " + ", ".join(f"{x:.1f}" for x in r["latencies"])
                  + " s; RSS ready " + ", ".join(f"{x:.0f}" for x in r["ready_mb"]) + " MB, peak "
                  + ", ".join(f"{x:.0f}" for x in r["peak_mb"]) + f" MB; {r['scenes']} scenes", flush=True)
    finally:
        if data:
            subprocess.run([str(ROOT / "deploy/kafka/stop"), "--data-dir", data, "--purge"], capture_output=True)
    load_after = os.getloadavg()[0]
    seconds = 4 * args.minutes * 60
    table = ("| workers | wall s (submit to last done) | each video done after (s) | RTF (4 videos) | "
             "RSS when ready, per worker (MB) | peak RSS per worker (MB) | scenes |\n|---|---|---|---|---|---|---|\n"
             + "\n".join(f"| {r['workers']} | {r['wall']:.1f} | {', '.join(f'{x:.1f}' for x in r['latencies'])} | "
                         f"{r['wall'] / seconds:.3f} | {', '.join(f'{x:.0f}' for x in r['ready_mb'])} | "
                         f"{', '.join(f'{x:.0f}' for x in r['peak_mb'])} | {r['scenes']} |" for r in rows))
    agents = args.agents or "none"
    record(f"Four videos at once on one and on two Kafka workers ({args.minutes:g}-minute videos, agents: {agents})",
           f"Workers `ingest,{args.agents + ',' if args.agents else ''}joiner` (joiner.sources={agents}, "
           "exactly_once, rocksdb table), all on this machine with a local single-node broker; four requests "
           "submitted at once, each in its own partition of `videos` (4 partitions). Wall = first submit until the "
           "last `done` event; peak RSS = the worker's VmHWM; every scene read back with `tail --until-done`. "
           "Ingest serves one request at a time per worker (one decode thread), so one worker decodes the four "
           "videos one after another and two workers two at a time. Load average (1 min) before "
           f"{load_before:.1f}, after {load_after:.1f}: other work shares these cores, so wall times vary from run to "
           "run; memory does not.\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
