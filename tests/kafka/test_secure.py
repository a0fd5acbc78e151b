"""Kafka with TLS and SASL for real: a broker started with `deploy/kafka/start --secure` (a SASL_SSL listener, SCRAM-
SHA-512 users `admin` and `reader`, a CA made with openssl, ACLs that let `reader` read only captions and
video-events), and `scenestream worker/submit/tail` configured only by the `export` lines it printed."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile

import orjson
import pytest

from tests import media
from tests.conftest import ROOT, SESSION
from tests.kafka.kafkatools import OFFLINE, WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PREFIX = f"scenestream-test-{SESSION}-secure."  # the reader's ACLs name this prefix's topics
AUTH_VARS = ("SCENESTREAM_SECURITY_PROTOCOL", "SCENESTREAM_SASL_MECHANISM", "SCENESTREAM_SASL_USERNAME",
             "SCENESTREAM_SASL_PASSWORD", "SCENESTREAM_SSL_CAFILE")


def exports(text: str) -> dict[str, str]:
    """The `export NAME=VALUE` lines of a shell text, as the shell would read them."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^export (SCENESTREAM_[A-Z_]+)=(.*)$", line)
        if m:
            out[m.group(1)] = shlex.split(m.group(2))[0]
    return out


class SecureBroker:
    def __init__(self, data: str, admin: dict[str, str], reader: dict[str, str]):
        self.data, self.admin, self.reader = data, admin, reader
        self.address = admin["SCENESTREAM_BROKER"]


@pytest.fixture(scope="module")
def secure():
    data = tempfile.mkdtemp(prefix="scenestream-test-kafka-secure-")
    proc = subprocess.run([str(ROOT / "deploy/kafka/start"), "--secure", "--port", "0", "--data-dir", data,
                           "--acl-prefix", PREFIX], capture_output=True, text=True, timeout=300)
    try:
        if proc.returncode != 0:
            pytest.fail(f"deploy/kafka/start --secure failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        admin = exports(proc.stdout)
        with open(os.path.join(data, "reader.env")) as f:
            reader = exports(f.read())
        assert set(admin) == {"SCENESTREAM_BROKER", *AUTH_VARS}, proc.stdout
        assert admin["SCENESTREAM_SECURITY_PROTOCOL"] == "SASL_SSL" and admin["SCENESTREAM_SASL_USERNAME"] == "admin"
        assert reader["SCENESTREAM_SASL_USERNAME"] == "reader"
        assert reader["SCENESTREAM_SASL_PASSWORD"] != admin["SCENESTREAM_SASL_PASSWORD"]
        yield SecureBroker(data, admin, reader)
    finally:
        subprocess.run([str(ROOT / "deploy/kafka/stop"), "--data-dir", data, "--purge"], capture_output=True,
                       timeout=120)


def client_env(settings: dict[str, str], prefix: str = PREFIX) -> dict[str, str]:
    """This process's environment without any Kafka credentials of its own, plus `settings`."""
    base = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    return dict(base, **OFFLINE, SCENESTREAM_PREFIX=prefix, **settings)


def scenestream(settings: dict[str, str], *args: str, timeout: float = 300,
                prefix: str = PREFIX) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams", *args], capture_output=True, text=True,
                          timeout=timeout, env=client_env(settings, prefix))


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_worker_submit_and_tail_on_the_secured_broker_give_bikes_six_scenes(secure, tmp_path):
    # The lightest pipeline that captions every scene: ingest and the joiner, no model agent.
    worker = WorkerProcess(secure.address, PREFIX, "ingest,joiner", tmp_path, "-o", "joiner.sources=none")
    worker.env = client_env(dict(secure.admin, SCENESTREAM_SESSION_TIMEOUT="10", SCENESTREAM_HEARTBEAT_INTERVAL="3"))
    with worker:
        sub = scenestream(secure.admin, "submit", str(media.bikes()), "--video-id", "secure-bikes")
        assert sub.returncode == 0 and sub.stdout.strip() == "secure-bikes", sub.stderr
        assert sub.stderr == "", sub.stderr
        tail = scenestream(secure.admin, "tail", "--video-id", "secure-bikes", "--until-done", "--timeout", "300",
                           timeout=360)
        caps = [orjson.loads(line) for line in lines(tail.stdout)]
        assert tail.returncode == 0, tail.stderr + worker.stderr_tail()
        assert [c["index"] for c in caps] == list(range(6)) and caps[-1]["last"], caps
        # The reader may read captions and video-events: the same six, the same way.
        read = scenestream(secure.reader, "tail", "--video-id", "secure-bikes", "--until-done", "--timeout", "60",
                           timeout=120)
        assert read.returncode == 0, read.stderr
        assert [orjson.loads(line) for line in lines(read.stdout)] == caps
        assert worker.stop() == 0, worker.stderr_tail()
    assert "Traceback" not in worker.log.read_text(), worker.stderr_tail(80)


@pytest.mark.parametrize("command", ["submit", "worker"])
def test_a_wrong_password_is_one_line_within_30_s_and_no_retry_storm(secure, tmp_path, command):
    wrong = dict(secure.admin, SCENESTREAM_SASL_PASSWORD="not-" + secure.admin["SCENESTREAM_SASL_PASSWORD"])
    args = (["submit", str(media.bikes()), "--video-id", "wrong-password"] if command == "submit" else
            ["worker", "--agents", "ingest,joiner", "-o", "joiner.sources=none", "--data-dir", str(tmp_path)])
    # The 30 s bound is the subprocess' timeout: past it the test fails with TimeoutExpired.
    proc = scenestream(wrong, *args, timeout=30)
    assert proc.returncode != 0
    said = lines(proc.stderr)
    assert len(said) == 1, proc.stderr  # one line, not one per retry
    assert "authentication failed" in said[0] and "SCENESTREAM_SASL_PASSWORD" in said[0], said
    assert wrong["SCENESTREAM_SASL_PASSWORD"] not in proc.stderr  # the password itself is never printed


@pytest.mark.parametrize("prefix", [PREFIX, PREFIX + "elsewhere."], ids=["its-topics", "new-topics"])
def test_the_reader_cannot_submit(secure, prefix):
    # Its own topics (they exist once a worker ran; the reader may not write `videos`) and a prefix of topics that
    # do not exist (it may not create them): one line each, saying it is not authorized.
    proc = scenestream(secure.reader, "submit", str(media.bikes()), "--video-id", "from-the-reader", timeout=60,
                       prefix=prefix)
    assert proc.returncode != 0
    said = lines(proc.stderr)
    assert len(said) == 1, proc.stderr
    assert "not authorized" in said[0] or "AuthorizationFailed" in said[0], said


def test_a_plaintext_client_on_the_tls_port_fails_cleanly(secure):
    proc = scenestream({"SCENESTREAM_BROKER": secure.address, "SCENESTREAM_SECURITY_PROTOCOL": "PLAINTEXT"},
                       "submit", str(media.bikes()), "--video-id", "plaintext", timeout=60)
    assert proc.returncode != 0
    said = lines(proc.stderr)
    assert len(said) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert secure.address in said[0] and "TLS" in said[0], said
