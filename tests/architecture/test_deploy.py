"""docker-compose.yml's workers, read as data: together they run every default agent of the table, and the joiner
waits for every default model agent, wherever it runs."""
from pathlib import Path

import yaml

from scenestream.streams.core import table

ROOT = Path(__file__).resolve().parents[2]


def _worker_commands() -> list[list[str]]:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return [s["command"] for s in services.values() if s.get("command", [None])[0] == "worker"]


def _option(command: list[str], key: str) -> str | None:
    pairs = [command[i + 1] for i, a in enumerate(command[:-1]) if a == "-o"]
    return next((p.partition("=")[2] for p in pairs if p.startswith(key + "=")), None)


def test_compose_workers_run_every_default_agent():
    commands = _worker_commands()
    assert len(commands) >= 2
    run = {a for c in commands for a in c[c.index("--agents") + 1].split(",")}
    assert {"ingest", "joiner", *table.defaults()} <= run


def test_the_compose_joiner_waits_for_every_default_agent():
    [joiner] = [c for c in _worker_commands() if "joiner" in c[c.index("--agents") + 1].split(",")]
    assert set(table.defaults()) <= set(_option(joiner, "joiner.sources").split(","))
