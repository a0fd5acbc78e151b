"""Machine facts and the RESULTS.md appender shared by the benchmarks."""
from __future__ import annotations

import datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "RESULTS.md"


def machine() -> str:
    from scenestream.streams.bench.command import machine_facts  # one description of the machine, shared with `scenestream bench`

    m = machine_facts()
    mem = f", {m['memory_gib']:.0f} GiB RAM" if m["memory_gib"] else ""
    return f"{m['cores']} cores ({m['cpu']}){mem}, {m['gpu'] or 'no GPU'}, Python {m['python']}, {m['system'].split()[0]}"


def record(title: str, body: str) -> None:
    """Append a dated section to bench/RESULTS.md (and print it)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"\n## {title}\n\n{stamp}; machine: {machine()}\n\n{body.strip()}\n"
    print(text)
    with open(RESULTS, "a") as f:
        f.write(text)
