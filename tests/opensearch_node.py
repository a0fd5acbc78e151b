"""The real OpenSearch node of the tests: deploy/opensearch/start and stop, for the session's node (the `opensearch`
fixture in tests/conftest.py) and for tests that stop and restart a node of their own."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def start(data_dir: Path | str, timeout: float = 300) -> str:
    """Start (or find running) the node of `data_dir` on free ports, or its old ports when free; returns its URL."""
    proc = subprocess.run([str(ROOT / "deploy/opensearch/start"), "--port", "0", "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"deploy/opensearch/start failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout.strip().splitlines()[-1]


def stop(data_dir: Path | str, purge: bool = False) -> None:
    subprocess.run([str(ROOT / "deploy/opensearch/stop"), "--data-dir", str(data_dir), *(["--purge"] if purge else [])],
                   capture_output=True, timeout=120, check=True)
