"""`scenestream bench VIDEO... [--captioner MODEL...] [--out DIR]`: how fast the pipeline is on this machine, and how
close to what the machine can do.

For each video it measures, in one process, model loading always excluded:

- Stage 1, as a user runs it: the embedded pipeline with the Stage-1 agents (asr, tagger, detector; `--agents`):
  wall time, real-time factor, each agent's busy seconds, and the CPU cores used on average;
- the limit: the same libraries called directly on the same video at the same settings (PyAV decoding video and
  audio, PySceneDetect on the frames, faster-whisper's batched pipeline on the whole audio, YAMNet on the whole
  audio, the YOLO detector on the sampled frames at the same rate, size, backend and threads), each stage's wall
  and CPU seconds. Since every stage here already keeps the cores busy, a pipeline that overlaps stages cannot
  beat their CPU seconds divided by the cores: that is the limit. The sum of their wall times is what a pipeline
  that runs one stage after another pays;
- per captioner (`--captioner`, default: the default captioner): ingest and the captioner alone, the seconds of
  caption generation (the captioner's own latencies, model loading excluded) and the captioning real-time factor,
  as the seed measured it;
- per model server (`--captioner http://HOST:PORT/v1`, an OpenAI-compatible endpoint; its model from
  `-o captioner.model=NAME`, else the one it lists): the video's scenes sent at each `--concurrency` (default
  1, 4, 16; scenes repeated to make at least two rounds), scenes a second, request latency (median, 95th
  percentile), tokens generated a second and failed requests.

`--agents none` skips Stage 1 (only the captioners are timed).

It writes DIR/bench.md (tables) and DIR/bench.json (the same figures, with machine, versions and settings).
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

STAGE1 = ("asr", "tagger", "detector")
VERSIONS = ("scenestream", "av", "scenedetect", "faster-whisper", "ctranslate2", "onnxruntime", "ultralytics",
            "openvino", "torch", "transformers")


# ------------------------------------------------------------------ machine


def machine_facts() -> dict[str, Any]:
    """CPU model, cores, memory, GPU (if any), Python and OS."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        mem_gib = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    except ImportError:
        pass
    return {"cpu": cpu, "cores": cores(), "memory_gib": mem_gib, "gpu": gpu, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}"}


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def versions() -> dict[str, str]:
    out = {}
    for name in VERSIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    try:
        import av

        out["ffmpeg (libavformat)"] = ".".join(map(str, av.library_versions["libavformat"]))
    except Exception:
        pass
    return out


# ------------------------------------------------------------------ timing


@dataclass
class Spent:
    wall: float = 0.0
    cpu: float = 0.0

    def add(self, other: "Spent") -> None:
        self.wall += other.wall
        self.cpu += other.cpu


def _cpu_all() -> float:
    """CPU seconds of every thread of this process (model libraries run their own threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@contextmanager
def timed(into: Spent, this_thread: bool = False) -> Iterator[None]:
    """Add the block's wall and CPU seconds to `into`: the calling thread's CPU only (`this_thread`, for work done
    in it while decoder threads run alongside), else the whole process's."""
    clock = time.thread_time if this_thread else _cpu_all
    w0, c0 = time.perf_counter(), clock()
    try:
        yield
    finally:
        into.wall += time.perf_counter() - w0
        into.cpu += clock() - c0


# ------------------------------------------------------------------ the pipeline


def run_pipeline(video: Path, agents: list[str], per_agent: dict[str, dict]) -> tuple[dict, dict]:
    """The embedded pipeline on `video` with `agents`, models loaded before the clock starts. Returns the run's
    summary and facts about the agents (models, detector backend and threads during the run)."""
    from scenestream.streams.core.plan import RunPlan
    from scenestream.streams.runtimes.embedded import EmbeddedPipeline

    plan = RunPlan(agents, per_agent)
    procs = plan.build()
    pipe = EmbeddedPipeline(plan.ingest(), procs)
    pipe.setup()
    try:
        cpu0 = _cpu_all()
        result = pipe.run(plan.request(str(video), f"bench-{video.stem}"), [])
        cpu = _cpu_all() - cpu0
        facts = {"models": {n: p.model_id for n, p in procs.items()}}
        if "detector" in procs:
            facts["detector"] = detector_facts(procs["detector"])
    finally:
        pipe.close()
    if result.failed:
        raise RuntimeError(f"{video}: {result.failed.code}: {result.failed.message}")
    summary = result.summary()
    summary["cpu_seconds"] = round(cpu, 3)
    summary["cores_used"] = round(cpu / result.wall_seconds, 3) if result.wall_seconds else None
    return summary, facts


def detector_facts(agent: Any) -> dict:
    """The detector's backend, its thread setting and the threads its network used (read after it ran)."""
    out = {"backend": agent.backend, "threads_setting": agent.settings.threads,
           "imgsz": agent.settings.imgsz}
    try:
        from scenestream.agents.detector.backends import openvino_backend, openvino_threads

        backend = openvino_backend(getattr(agent.model, "predictor", None))
        if backend is not None:
            out["threads_used"] = openvino_threads(backend)
        else:
            import torch

            out["threads_used"] = torch.get_num_threads()
    except Exception as exc:  # a fact we could not read is reported, not fatal
        out["threads_used"] = f"unknown ({type(exc).__name__})"
    return out


# ------------------------------------------------------------------ the libraries, directly


def run_direct(video: Path, agents: list[str], per_agent: dict[str, dict]) -> dict[str, dict]:
    """Each Stage-1 library called directly on `video`, at the settings the pipeline uses. One decoding pass feeds
    PySceneDetect every frame and the detector the sampled ones (timed apart: PySceneDetect by this thread's CPU,
    the detector by the process's, decoding is the rest of the pass); then faster-whisper and YAMNet each take the
    whole audio in one call, as their own documentation calls them."""
    import av
    import numpy as np
    from scenedetect.common import FrameTimecode, Timecode

    from scenestream.agents.ingest import IngestSettings
    from scenestream.agents.ingest.scenes import SWS_THREADS, make_detector, scaled_size
    from scenestream.streams.core import table

    s = IngestSettings().with_options(per_agent.get("ingest", {}))
    models = {n: table.build(n, per_agent.get(n, {})) for n in agents if n in STAGE1}
    for m in models.values():
        m.setup()
    try:
        spent = {name: Spent() for name in ("decode", "scenedetect", "detector", "asr", "tagger")}
        detector = models.get("detector")
        pass_time = Spent()
        with timed(pass_time):
            container = av.open(str(video))
            vstream = container.streams.video[0] if container.streams.video else None
            astream = container.streams.audio[0] if container.streams.audio else None
            streams = [x for x in (vstream, astream) if x is not None]
            if vstream is not None:
                vstream.thread_type = "AUTO"  # as ingest decodes
                fps = Fraction(float(vstream.average_rate or vstream.guessed_rate or 25)).limit_denominator(1001000)
                w, h = vstream.codec_context.width, vstream.codec_context.height
                cuts = make_detector(s, float(fps))
                factor = max(1.0, w / s.detect_width)
                detect_size = (max(2, int(w / factor)), max(2, int(h / factor)))
                frame_size = scaled_size(w, h, long_side=s.frame_long_side)
                offset = vstream.start_time or 0
            resampler = av.AudioResampler(format="s16", layout="mono", rate=s.sample_rate)
            pcm: list[np.ndarray] = []
            slot, batch, frames, scene_cuts, pts = 0, [], 0, 0, None
            for packet in container.demux(streams):
                for frame in packet.decode():
                    if packet.stream is vstream:
                        frames += 1
                        # no timestamp: continue the frame grid, as ingest does
                        pts = frame.pts if frame.pts is not None else (pts or 0) + round(1 / (fps * vstream.time_base))
                        with timed(spent["scenedetect"], this_thread=True):
                            image = frame.to_ndarray(width=detect_size[0], height=detect_size[1], format="bgr24",
                                                     threads=SWS_THREADS)
                            scene_cuts += len(cuts.process_frame(
                                FrameTimecode(Timecode(pts, vstream.time_base), fps=fps), image))
                        t = float((pts - offset) * vstream.time_base)
                        if detector is not None and t >= slot / s.frame_rate:
                            slot = math.floor(t * s.frame_rate + 1e-9) + 1
                            with timed(spent["detector"]):
                                batch.append(frame.to_ndarray(width=frame_size[0], height=frame_size[1],
                                                              format="bgr24", threads=SWS_THREADS))
                                if len(batch) == s.frames_per_batch:
                                    detector._predict(batch)
                                    batch = []
                    elif "asr" in models or "tagger" in models:
                        pcm.extend(out.to_ndarray().ravel() for out in resampler.resample(frame))
            if pcm:
                pcm.extend(out.to_ndarray().ravel() for out in resampler.resample(None))
            if batch:
                with timed(spent["detector"]):
                    detector._predict(batch)
            container.close()
        # Decoding (and the audio's resampling) is what the pass spent beyond the two stages timed inside it.
        spent["decode"] = Spent(pass_time.wall - spent["scenedetect"].wall - spent["detector"].wall,
                                pass_time.cpu - spent["scenedetect"].cpu - spent["detector"].cpu)
        audio = np.concatenate(pcm).astype(np.float32) / 32768.0 if pcm else np.zeros(0, np.float32)
        words = 0
        asr = models.get("asr")
        pipeline = getattr(getattr(asr, "backend", None), "pipeline", None)
        if pipeline is not None and len(audio):
            a = asr.settings
            with timed(spent["asr"]):
                segments, _ = pipeline.transcribe(audio, language=a.language, batch_size=a.batch_size,
                                                  beam_size=a.beam_size, word_timestamps=True, vad_filter=a.vad)
                words = sum(len(seg.words or []) for seg in segments)
        tagger = models.get("tagger")
        if tagger is not None and len(audio):
            with timed(spent["tagger"]):
                tagger.scores(audio)
        facts = {"frames": frames, "scene_cuts": scene_cuts, "audio_seconds": round(len(audio) / s.sample_rate, 3),
                 "words": words}
        if detector is not None:
            facts["detector"] = detector_facts(detector)
    finally:
        for m in models.values():
            m.close()
    used = {"decode", "scenedetect"} | set(models)
    stages = {name: {"wall": round(v.wall, 3), "cpu": round(v.cpu, 3)} for name, v in spent.items() if name in used}
    return {"stages": stages, **facts}


# ------------------------------------------------------------------ captioners


def run_captioner(video: Path, model: str, per_agent: dict[str, dict]) -> dict:
    options = dict(per_agent.get("captioner", {}))
    if model:
        options["model"] = model
    summary, facts = run_pipeline(video, ["captioner"], {**per_agent, "captioner": options})
    return {"captioner": facts["models"].get("captioner") or model, "video": video.name,
            "length": summary["duration"], "scenes": summary["scenes"],
            "caption_seconds": summary["captioner"]["seconds"],
            "real_time_factor": summary["captioner"]["real_time_factor"], "wall_seconds": summary["wall_seconds"]}


def is_endpoint(captioner: str) -> bool:
    return captioner.startswith(("http://", "https://"))


def video_scenes(video: Path, per_agent: dict[str, dict]) -> list:
    """The video's scenes with their keyframes, as ingest makes them (decoded once for every concurrency)."""
    from scenestream.schemas import Scene
    from scenestream.streams.core.plan import RunPlan

    plan = RunPlan([], per_agent)
    return [r for r in plan.ingest().process(plan.request(str(video), video.stem)) if isinstance(r, Scene)]


def run_endpoint(video: Path, url: str, per_agent: dict[str, dict], concurrencies: list[int]) -> list[dict]:
    """Scenes a second and request latencies of a model server, at each concurrency."""
    from scenestream.streams.core import table

    scenes = [s for s in video_scenes(video, per_agent) if s.keyframes]
    if not scenes:
        raise ValueError(f"{video.name}: no scene with keyframes to caption")
    rows = []
    for c in concurrencies:
        agent = table.build("captioner", {**per_agent.get("captioner", {}), "endpoint": url, "concurrency": str(c)})
        agent.setup()
        try:
            todo = (scenes * math.ceil(max(2 * c, len(scenes)) / len(scenes)))[:max(2 * c, len(scenes))]
            t0 = time.perf_counter()
            out = [cap for i in range(0, len(todo), c) for cap in agent.process_batch(todo[i:i + c])]
            wall = time.perf_counter() - t0
        finally:
            agent.close()
        ok = sorted(cap.latency for cap in out if not cap.error)
        tokens = sum(cap.usage.get("completion_tokens", 0) for cap in out)
        rows.append({"endpoint": url, "model": agent.model_id, "video": video.name, "concurrency": c,
                     "requests": len(out), "errors": sum(1 for cap in out if cap.error),
                     "wall_seconds": round(wall, 3), "scenes_per_second": round(len(ok) / wall, 3) if wall else None,
                     "latency_p50": _percentile(ok, 0.5), "latency_p95": _percentile(ok, 0.95),
                     "tokens_per_second": round(tokens / wall, 1) if wall else None,
                     "first_error": next((cap.error for cap in out if cap.error), None)})
    return rows


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return round(sorted_values[min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1)], 3)


# ------------------------------------------------------------------ the whole bench


def bench_video(video: Path, agents: list[str], per_agent: dict[str, dict], repeat: int = 1) -> dict:
    """The pipeline and the direct libraries on `video`, `repeat` times in turn: the run with the median
    pipeline/limit ratio, with every run's figures in `runs`. Shared virtual machines drift by 10 % and more between
    minutes; alternating the two measurements and taking the median keeps a slow minute from deciding the ratio."""
    runs = [_bench_once(video, agents, per_agent) for _ in range(repeat)]
    ranked = sorted(runs, key=lambda r: r["efficiency"]["pipeline_over_limit"] or 0.0)
    median = ranked[len(ranked) // 2]  # of an even number, the worse of the middle two
    median["runs"] = [{"pipeline_seconds": r["stage1"]["wall_seconds"], "limit_seconds": r["efficiency"]["limit_seconds"],
                       "pipeline_over_limit": r["efficiency"]["pipeline_over_limit"],
                       "cores_used": r["stage1"]["cores_used"]} for r in runs]
    return median


def _bench_once(video: Path, agents: list[str], per_agent: dict[str, dict]) -> dict:
    # Other work on the machine takes cores from both measurements alike, but makes wall times longer than CPU
    # seconds suggest: the load average says how quiet the machine was.
    load = [round(x, 2) for x in os.getloadavg()]
    summary, facts = run_pipeline(video, agents, per_agent)
    direct = run_direct(video, agents, per_agent)
    n = cores()
    cpu = sum(v["cpu"] for v in direct["stages"].values())
    serial = sum(v["wall"] for v in direct["stages"].values())
    limit = cpu / n
    wall = summary["wall_seconds"]
    return {
        "video": video.name, "path": str(video), "length": summary["duration"], "scenes": summary["scenes"],
        "load_average_before": load, "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "stage1": {"agents": agents, "wall_seconds": wall, "real_time_factor": summary["real_time_factor"],
                   "busy_seconds": summary["busy_seconds"], "cpu_seconds": summary["cpu_seconds"],
                   "cores_used": summary["cores_used"], "counts": summary["counts"], **facts},
        "direct": direct,
        "efficiency": {"limit_seconds": round(limit, 3), "direct_cpu_seconds": round(cpu, 3), "cores": n,
                       "one_after_another_seconds": round(serial, 3),
                       "pipeline_over_limit": round(wall / limit, 3) if limit else None,
                       "pipeline_over_one_after_another": round(wall / serial, 3) if serial else None,
                       # CPU against CPU: what the pipeline's own work adds (JPEGs, queues, chunked calls), a figure
                       # that other load on the machine does not move the way it moves wall times
                       "pipeline_cpu_over_direct_cpu": round(summary["cpu_seconds"] / cpu, 3) if cpu else None},
    }


def _f(x: Any, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# scenestream bench", "",
             f"Machine: {m['cores']} cores ({m['cpu']}), {_f(m['memory_gib'], 0)} GiB RAM, "
             f"{m['gpu'] or 'no GPU'}; Python {m['python']}, {m['system']}. {report['date']}.", "",
             "Model loading is excluded everywhere. RTF = seconds / video seconds (below 1: faster than real time).",
             "", "## Captioning (per captioner and video)", "",
             "| captioner | video | length s | scenes | caption s | RTF |", "|---|---|---|---|---|---|"]
    for c in report["captioners"]:
        lines.append(f"| {c['captioner']} | {c['video']} | {_f(c['length'], 1)} | {c['scenes']} | "
                     f"{_f(c['caption_seconds'])} | {_f(c['real_time_factor'], 4)} |")
    if report.get("endpoints"):
        lines += ["", "## Captioning through model servers (per endpoint, video and concurrency)", "",
                  "| endpoint | model | video | concurrency | requests | failed | scenes/s | latency p50 s | "
                  "p95 s | tokens/s |", "|---" * 10 + "|"]
        for e in report["endpoints"]:
            lines.append(f"| {e['endpoint']} | {e['model']} | {e['video']} | {e['concurrency']} | {e['requests']} | "
                         f"{e['errors']} | {_f(e['scenes_per_second'], 3)} | {_f(e['latency_p50'], 3)} | "
                         f"{_f(e['latency_p95'], 3)} | {_f(e['tokens_per_second'], 1)} |")
        failed = [e["first_error"] for e in report["endpoints"] if e["first_error"]]
        if failed:
            lines += ["", f"First failure: {failed[0]}"]
    if report["videos"]:  # `--agents none`: the captioners alone
        agents = list(dict.fromkeys(a for v in report["videos"] for a in v["stage1"]["busy_seconds"]))
        lines += ["", "## Stage 1 (per video: the pipeline's wall time, and each agent's busy seconds)", "",
                  "| video | length s | scenes | wall s | RTF | cores used | " + " | ".join(f"{a} s" for a in agents) + " |",
                  "|---" * (6 + len(agents)) + "|"]
        for v in report["videos"]:
            s = v["stage1"]
            lines.append(f"| {v['video']} | {_f(v['length'], 1)} | {v['scenes']} | {_f(s['wall_seconds'])} | "
                         f"{_f(s['real_time_factor'], 3)} | {_f(s['cores_used'])} | "
                         + " | ".join(_f(s["busy_seconds"].get(a)) for a in agents) + " |")
        lines += ["", "## Efficiency (per video: the pipeline against the same libraries called directly)", "",
                  "| video | pipeline s | limit s (CPU s / cores) | pipeline / limit | one after another s | "
                  "pipeline / one after another | pipeline CPU s | direct CPU s | CPU / CPU |", "|---" * 9 + "|"]
        for v in report["videos"]:
            e = v["efficiency"]
            lines.append(f"| {v['video']} | {_f(v['stage1']['wall_seconds'])} | {_f(e['limit_seconds'])} | "
                         f"**{_f(e['pipeline_over_limit'], 3)}** | {_f(e['one_after_another_seconds'])} | "
                         f"{_f(e['pipeline_over_one_after_another'], 3)} | {_f(v['stage1']['cpu_seconds'])} | "
                         f"{_f(e['direct_cpu_seconds'])} | {_f(e['pipeline_cpu_over_direct_cpu'], 3)} |")
        for v in report["videos"]:
            if len(v.get("runs", ())) > 1:
                lines += ["", f"{v['video']}: {len(v['runs'])} runs, pipeline then direct in turn; the table gives the "
                          "median run. Pipeline / limit of each run: "
                          + ", ".join(_f(r["pipeline_over_limit"], 3) for r in v["runs"]) + "."]
        lines += ["", "Direct stages (wall and CPU seconds):", "", "| video | stage | wall s | CPU s | RTF |",
                  "|---|---|---|---|---|"]
        for v in report["videos"]:
            for name, st in v["direct"]["stages"].items():
                rtf = st["wall"] / v["length"] if v["length"] else None
                lines.append(f"| {v['video']} | {name} | {_f(st['wall'])} | {_f(st['cpu'])} | {_f(rtf, 4)} |")
    lines += ["", "## Settings", ""]
    for v in report["videos"]:
        s = v["stage1"]
        det = s.get("detector")
        line = f"- {v['video']}: agents {', '.join(s['agents'])}; models " + \
            ", ".join(f"{k} {val}" for k, val in s["models"].items())
        if det:
            line += (f"; detector backend {det['backend']} (limit: {v['direct'].get('detector', {}).get('backend')}), "
                     f"imgsz {det['imgsz']}, threads {det['threads_setting']} set, {det['threads_used']} used")
        line += f"; load average (1, 5, 15 min) before {v['load_average_before']}, after {v['load_average_after']}"
        lines.append(line)
    lines.append(f"- options: {report['settings']['options'] or 'defaults'}")
    lines += ["", "## Versions", "", ", ".join(f"{k} {v}" for k, v in report["versions"].items()), ""]
    return "\n".join(lines)


def cmd_bench(args: argparse.Namespace) -> int:
    import orjson

    from scenestream.agents.errors import ConfigError
    from scenestream.streams.core import table
    from scenestream.streams.core.plan import RunPlan

    if args.repeat < 1:
        raise ConfigError(f"--repeat must be at least 1, not {args.repeat}")
    videos = [Path(v) for v in args.video]
    for v in videos:
        if not v.is_file():
            raise ConfigError(f"bench takes local video files; no such file: {v}")
    available = set(table.available())
    stage1 = args.agents != "none"
    agents = [a for a in table.parse_agents(args.agents, default=list(STAGE1)) if a in available] if stage1 else []
    per_agent = RunPlan.resolve(agents, args.option).options  # every option checked before a model loads
    captioners = [] if args.captioner == ["none"] else args.captioner or [""]
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    if not concurrencies or min(concurrencies) < 1:
        raise ConfigError(f"--concurrency: a comma list of whole numbers >= 1, not {args.concurrency!r}")
    for url in filter(is_endpoint, captioners):
        table.build("captioner", {**per_agent.get("captioner", {}), "endpoint": url})  # a bad URL: one line now
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine_facts(),
        "versions": versions(), "settings": {"stage1_agents": agents, "captioners": captioners,
                                             "options": args.option or []},
        "videos": [], "captioners": [], "endpoints": []}
    for video in videos:
        if stage1:
            print(f"bench: {video.name}: stage 1 and the direct libraries ...", file=sys.stderr, flush=True)
            report["videos"].append(bench_video(video, agents, per_agent, repeat=args.repeat))
        for model in captioners:
            print(f"bench: {video.name}: captioner {model or '(default)'} ...", file=sys.stderr, flush=True)
            if is_endpoint(model):
                report["endpoints"] += run_endpoint(video, model, per_agent, concurrencies)
            else:
                report["captioners"].append(run_captioner(video, model, per_agent))
    (out / "bench.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    text = markdown(report)
    (out / "bench.md").write_text(text)
    if not args.quiet:
        print(text)
    print(f"bench: wrote {out / 'bench.md'} and {out / 'bench.json'}", file=sys.stderr)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure the pipeline on videos against the libraries called directly",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", nargs="+", metavar="VIDEO", help="local video files")
    p.add_argument("--captioner", nargs="+", action="extend", metavar="MODEL",
                   help="captioner models to time (hub id, local dir or pack name), or OpenAI-compatible endpoints "
                        "(http://HOST:PORT/v1; the model from -o captioner.model=NAME or the one the server lists); "
                        "default: the default captioner; `none`: Stage 1 only")
    p.add_argument("--concurrency", default="1,4,16", metavar="LIST",
                   help="endpoints: requests in flight, each measured in turn (default 1,4,16)")
    p.add_argument("--agents", metavar="LIST", help="Stage-1 agents (default: asr,tagger,detector; `none`: skip Stage 1)")
    p.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                   help="options as for `scenestream run`, used by the pipeline and the direct calls alike")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="measure pipeline and direct libraries N times in turn and report the median run (default 1)")
    p.add_argument("--out", default="bench-out", metavar="DIR", help="where bench.md and bench.json go")
    p.add_argument("--quiet", "-q", action="store_true", help="do not print the tables")
    p.set_defaults(func=cmd_bench)
