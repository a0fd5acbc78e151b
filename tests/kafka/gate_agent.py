"""A gate for Kafka tests, loaded into a worker with SCENESTREAM_PLUGINS=tests.kafka.gate_agent (the way an outside
agent is added). It reads `scenes` and answers each with a GatePass naming the worker process that passed it.

In a worker started with SCENESTREAM_TEST_GATE=PATH it holds every scene from index SCENESTREAM_TEST_GATE_FROM
(default 2) on until the file PATH exists; without that variable it holds nothing. With `joiner.sources` naming
`gate`, no caption from that index on can be emitted while the gate is shut, so a test that kills a worker, or adds
one, after the first caption does so mid-video on any machine, however fast it decodes. Each pass is appended to
SCENESTREAM_TEST_GATE_LOG (when set) as "PID VIDEO_ID:INDEX", so a test sees which worker did the work."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from scenestream.agents.base import Agent
from scenestream.schemas import AgentWindow, Scene
from scenestream.streams.core import fill, table

HOLD_AT_MOST = 600.0  # a guard: a test that never opens the gate fails on its own deadline, the worker not hangs


@dataclass
class GatePass(AgentWindow):  # the envelope every agent output carries, then the payload
    pid: int = 0


class GateAgent(Agent):
    name = "gate"
    model_id = "gate"

    def __init__(self):
        self.gate = os.environ.get("SCENESTREAM_TEST_GATE")
        self.hold_from = int(os.environ.get("SCENESTREAM_TEST_GATE_FROM", "2"))
        self.log = os.environ.get("SCENESTREAM_TEST_GATE_LOG")

    def process(self, scene: Scene):
        if self.gate and scene.index >= self.hold_from:
            deadline = time.monotonic() + HOLD_AT_MOST
            while not os.path.exists(self.gate) and time.monotonic() < deadline:
                time.sleep(0.05)  # the test opens the gate from another process: a file is the simplest signal
        if self.log:
            with open(self.log, "a") as f:
                f.write(f"{os.getpid()} {scene.video_id}:{scene.index}\n")
        yield GatePass(scene.video_id, scene.index, scene.start, scene.end, pid=os.getpid(), model="gate", last=scene.last)


table.register(table.AgentSpec(
    "gate", lambda options: GateAgent(), "scenes", "gate-passes", GatePass, "scene", ("extra",), fill.extra("gate"),
    default=False, help="holds scenes until a test opens it (test plugin)"))
