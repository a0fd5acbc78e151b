import os
import secrets
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SESSION = secrets.token_hex(3)

# Offline everywhere: nothing in the tests may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("SCENESTREAM_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# The real Kafka broker: the one `make test` started (SCENESTREAM_BROKER), or one started here with
# deploy/kafka/start on free ports for this session and stopped at its end.
@pytest.fixture(scope="session")
def broker():
    address = os.environ.get("SCENESTREAM_BROKER")
    if address:
        yield address
        return
    data = tempfile.mkdtemp(prefix="scenestream-test-kafka-")
    proc = subprocess.run([str(ROOT / "deploy/kafka/start"), "--port", "0", "--data-dir", data],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"deploy/kafka/start failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    address = proc.stdout.strip().splitlines()[-1]
    try:
        yield address
    finally:
        subprocess.run([str(ROOT / "deploy/kafka/stop"), "--data-dir", data, "--purge"], capture_output=True,
                       timeout=120)


# The real OpenSearch node: the one `make test` started (SCENESTREAM_OPENSEARCH), or one started here with
# deploy/opensearch/start on free ports for this session and stopped at its end. Each test names its own index.
@pytest.fixture(scope="session")
def opensearch():
    url = os.environ.get("SCENESTREAM_OPENSEARCH")
    if url:
        yield url
        return
    from tests import opensearch_node

    data = tempfile.mkdtemp(prefix="scenestream-test-opensearch-")
    url = opensearch_node.start(data)
    try:
        yield url
    finally:
        opensearch_node.stop(data, purge=True)


# Each Kafka test gets its own topic prefix, so tests and runs never see each other's records.
@pytest.fixture
def prefix(request):
    name = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]
    return f"scenestream-test-{SESSION}-{name}."


# Agents registered by plugins (SCENESTREAM_PLUGINS set by one test) must not leak into the next test's table:
# each test starts from the built-in table, and a plugin it names is imported afresh.
from scenestream.streams.core import table as _table  # noqa: E402

_BUILTIN_AGENTS = dict(_table.TABLE)


@pytest.fixture(autouse=True)
def _agent_table_as_built():
    yield
    import sys

    for module in _table._plugins_loaded:
        sys.modules.pop(module, None)
    _table._plugins_loaded.clear()
    _table.TABLE.clear()
    _table.TABLE.update(_BUILTIN_AGENTS)
