"""python -m tests.media               fetch / make every test medium, print where each is
python -m tests.media NAME --print-path   fetch one and print only its path (used by `make demo`)"""
import sys
import time

from tests.media.fetch import ALL, cache

args = [a for a in sys.argv[1:] if not a.startswith("--")]
quiet = "--print-path" in sys.argv
names = args or list(ALL)
for name in names:
    if name not in ALL:
        sys.exit(f"unknown medium {name!r}; have: {', '.join(ALL)}")
    t0 = time.perf_counter()
    value = ALL[name]()
    if quiet:
        print(value)
    else:
        shown = value if not isinstance(value, (list, dict)) else f"{len(value)} items"
        print(f"{name:15s} {time.perf_counter() - t0:5.1f} s  {shown}")
if not quiet:
    print(f"cache: {cache()}")
