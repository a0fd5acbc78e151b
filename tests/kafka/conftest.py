"""The real Kafka broker for these tests: the one `make test` started (SCENESTREAM_BROKER), or one started here
with deploy/kafka/start on free ports for this session and stopped at its end. Each test gets its own topic
prefix, so tests and runs never see each other's records."""
import os
import secrets
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SESSION = secrets.token_hex(3)


@pytest.fixture
def prefix(request):
    name = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]
    return f"scenestream-test-{SESSION}-{name}."
