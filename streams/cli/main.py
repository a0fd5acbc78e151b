"""The `scenestream` command. Thin: parses arguments, builds agents, hands over to a runtime."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scenestream.agents.errors import ConfigError, InputError
from scenestream.streams.core.video_ids import video_id

DESCRIPTION = """\
scenestream: a video in, a stream of per-scene records out (bounds, caption, speech, sounds, objects).

  scenestream run VIDEO --out DIR     run everything in this process (embedded runtime)
  scenestream models list             the models installed and where they came from
  scenestream agents                  the agents, what each reads, writes and fills
"""


def cmd_run(args: argparse.Namespace) -> int:
    # Imported here so `--help` stays fast.
    from rich.console import Console

    from scenestream.streams.core import live, table
    from scenestream.streams.core.plan import RunPlan
    from scenestream.streams.runtimes.embedded import EmbeddedPipeline
    from scenestream.streams.outputs.sinks import Each, RunFolder
    from scenestream.streams.cli.progress import ProgressView, summary_table

    out = Path(args.out)
    # Every option is checked here, before anything loads: an unknown key or a bad value is one line naming it.
    plan = RunPlan.resolve(table.parse_agents(args.agents), args.option)
    source = live.decide(args.source, args.live)  # by flag or scheme; an HTTP source is probed once models load
    plan = plan.for_live(bool(source.live))  # a live source: latency defaults under the user's own options
    pipeline = EmbeddedPipeline(plan.ingest(), plan.build(), queue_size=args.queue_size, chapters=plan.chapters())
    view = ProgressView(Path(args.source).name or args.source, enabled=None if not args.quiet else False)
    folder, result = None, None
    try:
        pipeline.setup()
        plan = source.settle(plan, pipeline)  # HTTP probed now; live: latency options
        request = plan.request(args.source, args.video_id or video_id(args.source))

        def on_event(ev) -> None:
            if ev.kind == "accepted":
                view.duration(ev.duration)
            elif ev.kind == "progress" and ev.position is not None:
                view.position(ev.position)

        folder = RunFolder(out)
        result = pipeline.run(request, [folder, Each(lambda rec: view.scene(rec["end"]))], on_event)
    finally:
        view.close()
        pipeline.close()
        if folder is not None and result is None:
            folder.close()  # interrupted: what was final is on disk
    summary = {**result.summary(), "live": source.live}
    written = folder.close(summary)  # summary.json, subtitles and report.html, from what the sinks kept
    if result.failed:
        print(f"scenestream: {args.source}: {result.failed.message}", file=sys.stderr)
        return 1
    if not args.quiet:
        console = Console()
        console.print(summary_table(summary))
        for path in written:
            console.print(f"{path.stem if path.suffix == '.json' else path.suffix[1:]:<9} {path}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from scenestream.agents import models

    table = Table(title="offline model pack" + (" (offline: defaults come from here)" if models.offline() else ""))
    for col in ("name", "use", "installed at", "package", "licence"):
        table.add_column(col)
    for entry, where in models.installed_pack():
        table.add_row(entry.name, entry.use, str(where) if where else "[red]not installed[/red]", entry.package,
                      entry.licence)
    Console(width=200 if not sys.stdout.isatty() else None).print(table)
    print(f"device: {models.pick_device('auto')}; model cache: {models.cache_dir()}; "
          f"hub: {'off (HF_HUB_OFFLINE / SCENESTREAM_OFFLINE)' if models.offline() else 'on'}")
    return 0


def cmd_agents(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from scenestream.streams.core import table

    available = set(table.available())
    view = Table(title="agents (streams/core/table.py): ingest -> these -> joiner")
    for col in ("agent", "reads", "writes", "fills", "default", "installed", "what"):
        view.add_column(col)
    for name in table.names():
        s = table.TABLE[name]
        view.add_row(name, s.input_topic, s.output_topic, ", ".join(s.fields), "on" if s.default else "off",
                     "yes" if name in available else "[red]no[/red]", s.help)
    Console(width=200 if not sys.stdout.isatty() else None).print(view)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scenestream", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="process one video in this process and write its scene records",
                         description="Decode SOURCE once, cut it into scenes and run the model agents on it. Each "
                                     "scene's record is appended to DIR/captions.jsonl as soon as it is final; "
                                     "DIR/summary.json gets timings and the video's summary, DIR/chapters.json, "
                                     ".vtt and .txt its chapters. Exit status 1 with one line on stderr if "
                                     "the source cannot be processed.")
    run.add_argument("source", metavar="SOURCE", help="a path, file://, http(s)://, rtsp:// or rtmp:// URI")
    run.add_argument("--out", default="out", metavar="DIR", help="output directory (default: ./out)")
    run.add_argument("--agents", metavar="LIST",
                     help="comma-separated model agents to run (see `scenestream agents`); default: every installed agent "
                          "that is on by default")
    run.add_argument("--video-id", help="id for the records (default: file name + hash of the URI)")
    run.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                     help="an option: ingest's as KEY=VALUE (-o detector=adaptive -o keyframes=3 -o frame_rate=1), "
                          "an agent's as AGENT.KEY=VALUE (-o captioner.model=llava-hf/llava-v1.6-mistral-7b-hf "
                          "-o captioner.quantization=4bit -o asr.language=de -o detector.imgsz=320), the chapters' as "
                          "chapters.KEY=VALUE (-o chapters.enabled=false, -o chapters.min_seconds=30, "
                          "-o chapters.llm_endpoint=http://127.0.0.1:8000/v1)")
    run.add_argument("--queue-size", type=int, default=8, help="records buffered between stages (default 8)")
    run.add_argument("--live", action=argparse.BooleanOptionalAction, default=None,
                     help="windows made for latency (records seconds after each scene) instead of throughput; "
                          "default: on for rtsp/rtmp/udp and HTTP streams without a duration (found by opening "
                          "the stream before the models load; --live opens it after), off for files")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no table")
    run.set_defaults(func=cmd_run)

    mdl = sub.add_parser("models", help="show the models this install can use",
                         description="Models are named by a hub id, a local directory or an offline-pack name.")
    mdl_sub = mdl.add_subparsers(dest="models_command", metavar="ACTION")
    lst = mdl_sub.add_parser("list", help="the offline model pack: what is installed and where it came from")
    lst.set_defaults(func=cmd_models)
    mdl.set_defaults(func=cmd_models)
    ags = sub.add_parser("agents", help="the agents of the pipeline: what each reads, writes and fills",
                         description="The agent table: every model agent with its topics and SceneCaption fields.")
    ags.set_defaults(func=cmd_agents)
    from scenestream.streams.cli.kafka import add_commands; add_commands(sub)  # noqa: E702 - Kafka mode: worker, submit, tail, status
    from scenestream.streams.bench.command import add_commands as bench; bench(sub)  # noqa: E702 - bench: pipeline against the libraries
    from scenestream.streams.cli.outputs import add_commands as outputs; outputs(sub)  # noqa: E702 - export, index, search
    from scenestream.streams.cli.serve import add_commands as serve; serve(sub)  # noqa: E702 - report, serve
    from scenestream.streams.cli.ask import add_commands as ask; ask(sub)  # noqa: E702 - ask
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (ConfigError, InputError) as exc:
        print(f"scenestream: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("scenestream: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
