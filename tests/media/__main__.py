"""python -m tests.media                    fetch / make every test medium (fetch.PREFETCH), print each and where
python -m tests.media NAME[=ARG] ...      only these, e.g. synth_clip long_video=20 silence_wav=2 film=10
python -m tests.media NAME --print-path   print only the path(s) (used by `make demo`)

Exit status 1 with the reason when a medium is unavailable here (a tool or a registry is missing)."""
import sys
import time

from tests.media import fetch


def _arg(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


def main(argv: list[str]) -> int:
    quiet = "--print-path" in argv
    wanted = [a for a in argv if not a.startswith("--")]
    jobs = list(fetch.PREFETCH)
    if wanted:
        jobs = []
        for item in wanted:
            name, _, arg = item.partition("=")
            func = getattr(fetch, name, None)
            if name.startswith("_") or name not in fetch.__all__ or not callable(func) or name in (
                    "cache", "bad_inputs", "MediaUnavailable"):
                print(f"unknown medium {name!r}; have: {', '.join(fetch.ALL)}, long_video=MINUTES, film=MINUTES", file=sys.stderr)
                return 2
            jobs.append((name, (_arg(arg),) if arg else ()))
    t_all = time.perf_counter()
    for name, args in jobs:
        t0 = time.perf_counter()
        try:
            value = getattr(fetch, name)(*args)
        except fetch.MediaUnavailable as err:
            print(f"{name}: unavailable: {err}", file=sys.stderr)
            return 1
        label = f"{name}({', '.join(map(str, args))})" if args else name
        if quiet:
            print(value[0] if isinstance(value, tuple) else value)
            continue
        if isinstance(value, dict):
            shown = f"{len(value)} items in {next(iter(value.values())).parent}"
        elif isinstance(value, list):
            shown = f"{len(value)} items in {value[0][0].parent}"
        elif isinstance(value, tuple):
            shown = value[0]
        else:
            shown = value
        print(f"{label:18s} {time.perf_counter() - t0:5.1f} s  {shown}")
    if not quiet:
        print(f"all in {time.perf_counter() - t_all:.1f} s; cache: {fetch.cache()}")
    return 0


sys.exit(main(sys.argv[1:]))
