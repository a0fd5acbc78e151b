"""The run plan: options resolved and checked once, the live profile laid under them and taken off again, and the
agents it changes rebuilt (what run, serve, bench and worker share: streams/core/plan.py)."""
import pytest

from scenestream.agents.base import Agent
from scenestream.agents.errors import ConfigError
from scenestream.streams.core import live, table
from scenestream.streams.core.plan import RunPlan


def test_options_are_checked_before_anything_loads():
    plan = RunPlan.resolve(["asr", "tagger"], ["keyframes=3", "asr.language=de", "captioner.max_batch=2"])
    assert plan.agents == ["asr", "tagger"] and not plan.live
    assert plan.of("ingest") == {"keyframes": "3"} and plan.of("asr") == {"language": "de"} and plan.of("ocr") == {}
    assert plan.request("x.mp4", "vid").options == {"keyframes": "3"}
    for bad, says in ((["asr.langauge=de"], "did you mean 'language'"), (["keyframes=many"], "keyframes"),
                      (["captioner.max_batch=lots"], "captioner.max_batch"), (["nobody.x=1"], "unknown agent")):
        with pytest.raises(ConfigError, match=says):
            RunPlan.resolve(["asr"], bad)
    with pytest.raises(ConfigError, match="unknown agent 'telepathy'"):
        RunPlan.resolve(["telepathy"], [])


def test_the_live_profile_goes_under_the_users_options_and_comes_off_again():
    plan = RunPlan.resolve(["asr", "tagger"], ["audio_chunk_seconds=5", "asr.language=de"])
    on = plan.for_live(True)
    assert on.live and on.of("ingest")["audio_chunk_seconds"] == "5"  # the user's value wins
    assert on.of("ingest")["max_scene_seconds"] == live.LATENCY["ingest"]["max_scene_seconds"]
    assert on.of("asr") == {**live.LATENCY["asr"], "language": "de"}
    assert plan.for_live(False) is plan and on.for_live(False).options == plan.options
    assert RunPlan.resolve(["tagger"], []).for_live(True).of("asr") == {}  # only the agents that run get theirs


class Built(Agent):
    name = "asr"
    log: list = []

    def __init__(self, options):
        self.options = options

    def setup(self):
        Built.log.append(("setup", self.options))

    def close(self):
        Built.log.append(("close", self.options))


def test_fit_rebuilds_only_the_agents_the_profile_changes(monkeypatch):
    monkeypatch.setattr(table, "build", lambda name, options: Built(options))
    plan = RunPlan(["asr", "tagger"], {"asr": {"language": "de"}}, base={"asr": {"language": "de"}})
    agents = {"asr": Built(plan.of("asr")), "tagger": Built({})}
    tagger = agents["tagger"]
    Built.log.clear()
    now = plan.fit(agents, live=True)
    assert now.live and agents["asr"].options == {**live.LATENCY["asr"], "language": "de"} and agents["tagger"] is tagger
    assert Built.log == [("close", {"language": "de"}), ("setup", agents["asr"].options)]
    Built.log.clear()
    assert now.fit(agents, live=True) is now and Built.log == []  # already live: nothing reloads
    back = now.fit(agents, live=False)  # serve: a file after a live source gets the file profile back
    assert not back.live and agents["asr"].options == {"language": "de"}
