"""`scenestream ask "QUESTION" --db scenes.db`: a question answered with the scenes that show it (streams/video/ask.py).
`add_commands(subparsers)` adds it to the main parser (streams/cli/main.py); heavy imports stay inside the command so
`--help` stays fast."""
from __future__ import annotations

import argparse
import sys


def cmd_ask(args: argparse.Namespace) -> int:
    import orjson

    from scenestream.agents.chat import ChatError
    from scenestream.streams.video.ask import AskSettings, Asker, open_index

    settings = AskSettings(top=args.top, llm_endpoint=args.llm_endpoint or "", llm_model=args.llm_model or "",
                           llm_api_key_env=args.llm_api_key_env, llm_timeout=args.llm_timeout).checked()
    with open_index(args.db) as index:  # every argument checked first, then the index: a missing one is one line
        asker = Asker(index, settings)
        try:
            answer = asker.ask(args.question, args.video)
        except ChatError as exc:  # the endpoint down or refusing, after the client's retries
            print(f"scenestream: ask: {exc}", file=sys.stderr)
            return 1
        finally:
            asker.close()
    if args.json:
        sys.stdout.write(orjson.dumps(answer.as_dict()).decode() + "\n")
        sys.stdout.flush()
        return 0
    print(answer.answer)
    by = "quoted from the search" if answer.answered_by == "retrieval" else f"written by {answer.answered_by}"
    tail = f"; {answer.dropped} citation(s) of scenes not retrieved dropped" if answer.dropped else ""
    print(f"-- {len(answer.citations)} of {answer.retrieved} scenes cited, {by}{tail}", file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    a = sub.add_parser(
        "ask", help="answer a question about the indexed videos, citing the scenes (video, times)",
        description="Find the scenes that answer QUESTION in an index made by `scenestream index` (the hybrid search: "
                    "words and meaning), and answer with them. Offline the answer quotes the best scenes, best first: "
                    "video, start-end and the sentence said, written or shown nearest the question. With "
                    "--llm-endpoint the scenes go to an OpenAI-compatible model as numbered sources and it writes "
                    "the answer, citing them as [n]; a citation of any scene it was not given is dropped (and "
                    "counted). --json prints one object: question, answer, citations [{video_id, index, start, "
                    "end, score, n}], answered_by, retrieved, dropped.")
    a.add_argument("question", metavar="QUESTION", help="free text, e.g. \"what will the weather be tomorrow?\"")
    a.add_argument("--db", required=True, metavar="PATH", help="the index file (`scenestream index ... --db PATH`)")
    a.add_argument("--video", metavar="ID", help="only this video's scenes")
    a.add_argument("--top", "-k", type=int, default=5, metavar="K", help="scenes retrieved (default 5)")
    a.add_argument("--json", action="store_true", help="one JSON object instead of text")
    a.add_argument("--llm-endpoint", metavar="URL",
                   help="an OpenAI-compatible base URL ending in /v1 (vLLM, Ollama at /v1, transformers serve, "
                        "OpenAI): the answer is written by the model from the retrieved scenes")
    a.add_argument("--llm-model", metavar="NAME", help="the model to ask (default: the one the endpoint serves)")
    a.add_argument("--llm-api-key-env", default="OPENAI_API_KEY", metavar="VAR",
                   help="the environment variable holding the endpoint's key (default OPENAI_API_KEY; none needed "
                        "for a local server)")
    a.add_argument("--llm-timeout", type=float, default=120.0, metavar="S", help="seconds per request (default 120)")
    a.set_defaults(func=cmd_ask)


__all__ = ["add_commands"]
