"""The Kafka mode subcommands of `scenestream`: worker, submit, tail, status. `add_commands(subparsers)` adds them
to the main parser (streams/cli/main.py). Everything heavy is imported inside the commands so `--help` stays fast."""
from __future__ import annotations

import argparse
import asyncio
import sys

from scenestream.streams.cli.kafka_args import add_kafka_arguments, kafka_settings
from scenestream.streams.core.video_ids import video_id


def cmd_worker(args: argparse.Namespace) -> int:
    from scenestream.streams.runtimes.kafka.worker import parse_agents, run_worker, worker_plan

    agents = parse_agents(args.agents)
    plan = worker_plan(agents, args.option)
    settings = kafka_settings(args, partitions=args.partitions, scene_partitions=args.scene_partitions,
                         store=args.store, guarantee=args.guarantee, group=args.group, data_dir=args.data_dir)
    if args.metrics_port is not None:  # Prometheus scrapes this worker's scenestream_* metrics (streams/core/metrics.py)
        from scenestream.streams.core.metrics import start_http_server

        server, _ = start_http_server(args.metrics_port)
        print(f"scenestream: metrics on http://0.0.0.0:{server.server_port}/metrics", file=sys.stderr, flush=True)
    return run_worker(settings, agents, plan, loglevel=args.loglevel)


def request_options(source: str, pairs: list[str] | None, live: bool | None) -> dict:
    """A request's ingest options from `-o` pairs. A live source (by `--live`, or by its scheme) gets ingest's
    latency profile under the user's options; the workers' own agents (ASR's window) are set on the worker
    (`-o asr.window=2`), since one worker serves many requests."""
    from scenestream.agents.options import parse_pairs
    from scenestream.streams.core.live import scheme_says, with_latency_defaults

    options = parse_pairs(pairs, ["ingest"], default_agent="ingest").get("ingest", {})
    if live if live is not None else scheme_says(source):
        options = with_latency_defaults({"ingest": options}, agents=())["ingest"]
    return options


def cmd_submit(args: argparse.Namespace) -> int:
    from scenestream.streams.runtimes.kafka.client import make_request, submit

    settings = kafka_settings(args)
    options = request_options(args.source, args.option, args.live)
    request = make_request(args.source, args.video_id or video_id(args.source, fresh=True), options)
    asyncio.run(submit(settings, request))
    print(request.video_id, flush=True)
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from scenestream.streams.runtimes.kafka.client import Tail

    tail = Tail(kafka_settings(args), video_id=args.video_id, until_done=args.until_done,
                from_beginning=args.from_beginning, timeout=args.timeout)
    return asyncio.run(tail.run())


def cmd_status(args: argparse.Namespace) -> int:
    from scenestream.schemas import dumps
    from scenestream.streams.runtimes.kafka.client import status

    event = asyncio.run(status(kafka_settings(args), args.video_id))
    if event is None:
        print(f"scenestream: no events for {args.video_id}", file=sys.stderr)
        return 1
    print(dumps(event).decode(), flush=True)
    return 0


def add_commands(sub) -> None:
    from scenestream.streams.core import table  # pure data, cheap: the agent names below come from it

    model_agents = ",".join(table.names())
    w = sub.add_parser(
        "worker", help="run agents as a Kafka (faust) worker",
        description="Join the Kafka cluster as a worker running AGENTS. Workers running the same agents share one "
                    "consumer group and split the partitions between them; run each agent in one kind of worker "
                    "only (e.g. CPU workers: ingest,asr,tagger,detector,ocr,joiner; GPU workers: captioner). Prints one "
                    "line when ready; stops cleanly on SIGTERM or SIGINT.")
    w.add_argument("--agents", metavar="LIST",
                   help=f"comma-separated subset of ingest,{model_agents},joiner "
                        "(default: ingest, every installed model agent, joiner)")
    w.add_argument("--option", "-o", action="append", metavar="AGENT.KEY=VALUE",
                   help="agent option, e.g. -o captioner.model=llava-hf/llava-1.5-7b-hf -o asr.language=en "
                        "-o ingest.frame_rate=1 -o joiner.sources=asr,captioner (the sources the joiner waits for, "
                        "wherever they run; default: every installed model agent; 'none' for scene bounds only)")
    add_kafka_arguments(w)
    w.add_argument("--partitions", type=int, help="partitions of every topic when first created (default 4; "
                                                  "$SCENESTREAM_PARTITIONS)")
    w.add_argument("--scene-partitions", type=int, help="partitions of `scenes` (default: --partitions)")
    w.add_argument("--store", help="joiner table store: rocksdb:// (default) or memory://")
    w.add_argument("--guarantee", choices=("exactly_once", "at_least_once"),
                   help="exactly_once (default): each scene's record is committed once, through crashes")
    w.add_argument("--group", help="consumer group / faust app id (default: prefix + 'worker-' + the agents)")
    w.add_argument("--data-dir", help="local table files (default: ~/.cache/scenestream/worker)")
    w.add_argument("--loglevel", default="warning", choices=("debug", "info", "warning", "error"))
    w.add_argument("--metrics-port", type=int, metavar="PORT",
                   help="serve Prometheus metrics (scenestream_*) on http://0.0.0.0:PORT/metrics (0: a free port)")
    w.set_defaults(func=cmd_worker)

    s = sub.add_parser("submit", help="publish a video request to Kafka and print its id",
                       description="Publish SOURCE to the `videos` topic; a worker running ingest picks it up. "
                                   "Prints the video id (a fresh one unless --video-id is given).")
    s.add_argument("source", metavar="SOURCE", help="a path or URI the workers can open (file, http(s), rtsp, rtmp)")
    s.add_argument("--video-id", help="id for the records (default: file name + a fresh suffix)")
    s.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                   help="ingest option for this video, e.g. -o keyframes=3 -o frame_rate=1")
    s.add_argument("--live", action=argparse.BooleanOptionalAction, default=None,
                   help="treat SOURCE as live: ingest's latency options (1 s audio chunks, small frame batches, "
                        "scenes closed after 10 s without a cut) under your own -o options; default: live for "
                        "rtsp/rtmp/udp/srt URIs")
    add_kafka_arguments(s)
    s.set_defaults(func=cmd_submit)

    t = sub.add_parser("tail", help="print scene records from Kafka as they arrive",
                       description="Print caption records (SceneCaption JSON, one per line) as they are committed. "
                                   "Each scene is printed once. With --video-id, only that video's, in scene order "
                                   "and from its first scene. Exit status: 0, 1 if the video failed, 3 on --timeout.")
    t.add_argument("--video-id", help="follow one video")
    t.add_argument("--until-done", action="store_true",
                   help="stop once the video is done and all its scenes are printed (needs --video-id)")
    t.add_argument("--from-beginning", action="store_true", help="start at the oldest records still kept")
    t.add_argument("--timeout", type=float, help="give up after this many seconds")
    add_kafka_arguments(t)
    t.set_defaults(func=cmd_tail)

    st = sub.add_parser("status", help="print the latest lifecycle event of a video",
                        description="Print the newest video event (accepted, progress, ingested) of VIDEO_ID as JSON, "
                                    "or its done / failed event once there is one. Reads the video's video-events partition from the beginning: "
                                    "fine for a development tool, slow on a long-lived cluster.")
    st.add_argument("video_id", metavar="VIDEO_ID")
    add_kafka_arguments(st)
    st.set_defaults(func=cmd_status)


__all__ = ["add_commands"]
