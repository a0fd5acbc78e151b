"""What `scenestream run` shows: a progress bar while it works and a small table at the end (like the seed's
benchmark table: per-stage busy seconds and real-time factors)."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


class ProgressView:
    """A progress bar over video seconds on a terminal; silent otherwise (logs and pipes stay clean)."""

    def __init__(self, label: str, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.scenes = 0
        self._progress = None
        if self.enabled:
            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                      TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
                                      TextColumn("{task.fields[scenes]} scenes"), TimeElapsedColumn(),
                                      console=Console(stderr=True), transient=True)
            self._task = self._progress.add_task(label, total=None, scenes=0)
            self._progress.start()

    def duration(self, seconds: float | None) -> None:
        if self._progress and seconds:
            self._progress.update(self._task, total=seconds)

    def position(self, seconds: float) -> None:
        if self._progress:
            self._progress.update(self._task, completed=seconds)

    def scene(self, end: float) -> None:
        self.scenes += 1
        if self._progress:
            self._progress.update(self._task, scenes=self.scenes, completed=end)

    def close(self) -> None:
        if self._progress:
            self._progress.stop()


def summary_table(summary: dict) -> Table:
    dur = summary.get("duration") or 0.0
    name = str(summary["uri"]).rstrip("/").rsplit("/", 1)[-1]
    table = Table(title=f"{name}: {summary['scenes']} scenes, {dur:.1f} s of video")
    table.add_column("stage")
    table.add_column("busy s", justify="right")
    table.add_column("RTF", justify="right")
    for stage, busy in summary["busy_seconds"].items():
        table.add_row(stage, f"{busy:.2f}", f"{busy / dur:.3f}" if dur else "-")
    table.add_row("[bold]wall", f"{summary['wall_seconds']:.2f}",
                  f"{summary['real_time_factor']:.3f}" if summary.get("real_time_factor") else "-")
    return table
