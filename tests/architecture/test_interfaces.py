"""The runtimes use agents only through the members agents/base.py declares: no getattr/hasattr probing (a member an
agent lacks would silently take a default that differs from runtime to runtime), and every agent is an Agent."""
import ast
from pathlib import Path

import pytest

from scenestream.agents.base import Agent, SourceAgent
from scenestream.agents.errors import ConfigError
from scenestream.streams.core import table

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_CODE = ["streams/runtimes", "streams/core", "streams/server", "streams/cli"]
# What the runtimes may probe, by the probed expression: none of these is an agent. faust's app and producer carry
# members faust adds at run time (its own attributes differ between versions), `mod` is a module of a table entry.
NOT_AGENTS = {"self.app", "self.producer", "producer", "mod", "self", "args", "_stdlib_sqlite3.Connection"}


def _probes():
    for folder in RUNTIME_CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
                    yield path.relative_to(ROOT), node.lineno, ast.unparse(node.args[0])


def test_the_scan_sees_the_code():
    assert any(folder for folder in RUNTIME_CODE if list((ROOT / folder).rglob("*.py")))
    assert any(probed == "self.app" for _, _, probed in _probes())  # the faust probe the allow-list names


def test_runtimes_never_probe_an_agent():
    probes = [f"{path}:{line} {probed}" for path, line, probed in _probes() if probed not in NOT_AGENTS]
    assert not probes, "getattr/hasattr on something that may be an agent; use the members of agents/base.py"


@pytest.mark.parametrize("name", table.available())
def test_every_agent_declares_the_interface(name):
    agent = table.build(name, {})
    assert isinstance(agent, Agent) and agent.name == name
    assert isinstance(agent.max_batch, int) and agent.max_batch >= 1 and agent.batch_wait >= 0


def test_ingest_is_a_source():
    from scenestream.agents.ingest import IngestAgent

    assert issubclass(IngestAgent, SourceAgent) and IngestAgent.pixel_frames is False


def test_a_builder_that_makes_no_agent_is_one_line():
    spec = table.AgentSpec("not-an-agent", lambda options: object(), "scenes", "not-an-agent-out",
                           type("NotAgentOut", (), {}), "scene", ("extra",), lambda c, o: None)
    table.TABLE[spec.name] = spec  # register() would also check the record type; only build() is under test
    try:
        with pytest.raises(ConfigError, match="not a scenestream.agents.base.Agent"):
            table.build("not-an-agent")
    finally:
        del table.TABLE[spec.name]


def test_the_default_batch_is_one_by_one():
    class Twice(Agent):
        name = "twice"

        def process(self, record):
            return [record, record]

    assert Twice().process_batch([1, 2]) == [1, 1, 2, 2]
    assert Twice.from_options({}).model_id == "" and Twice().max_batch == 1
