"""What aiokafka logs, sorted into what a user should see and what they should not.

aiokafka logs conditions it retries by itself as warnings and errors. Right after a topic is created its partitions
have no leader for a moment, so the first produce answers NotLeaderForPartitionError ("Got error produce response
... retrying"); a fresh broker's group coordinator is not there until `__consumer_offsets` exists ("Group
Coordinator Request failed: GroupCoordinatorNotAvailableError"). Both are expected and pass by themselves: hidden.
If one does not pass, the request times out and the caller reports a one-line error, so nothing real is lost.

A failed bootstrap (wrong password, TLS expected, nothing listening) is logged by aiokafka and then raised as a bare
"Unable to bootstrap"; the logged line is the one with the reason. It is kept here, not printed, and the caller's
one-line error says it (`bootstrap_reason`). Everything else aiokafka logs is left as it is.
"""
from __future__ import annotations

import logging
import re

# Retriable errors that are part of creating topics and starting a group on a fresh broker or prefix.
EXPECTED_RETRIES = ("NotLeaderForPartitionError", "LeaderNotAvailableError", "UnknownTopicOrPartitionError",
                    "GroupCoordinatorNotAvailableError", "CoordinatorLoadInProgressError",
                    "NotCoordinatorForGroupError")
_BOOTSTRAP = re.compile(r'^Unable connect to "[^"]*": (?P<reason>.*)$', re.S)
_last_bootstrap_error: list[str] = []


class ExpectedRetries(logging.Filter):
    """Drops aiokafka's records of the retries in EXPECTED_RETRIES; keeps the reason of a failed bootstrap."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        m = _BOOTSTRAP.match(message)
        if m:
            _last_bootstrap_error[:] = [" ".join(m.group("reason").split())]
            return False
        return not any(name in message for name in EXPECTED_RETRIES)


_FILTER = ExpectedRetries()
# Filters do not see records propagated from child loggers: each logger that writes these gets the filter.
LOGGERS = ("aiokafka", "aiokafka.producer.sender", "aiokafka.consumer.group_coordinator", "aiokafka.conn",
           "aiokafka.consumer.fetcher")


def install() -> None:
    """Idempotent: the filter on every aiokafka logger that writes the records above."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def bootstrap_reason(protocol: str) -> str:
    """Why the last bootstrap failed, in words a user can act on ('' when aiokafka logged nothing). Read once."""
    reason = _last_bootstrap_error.pop() if _last_bootstrap_error else ""
    if not reason:
        return ""
    if "SaslAuthenticationFailed" in reason or "invalid credentials" in reason:
        return ("authentication failed: wrong user name or password "
                "(SCENESTREAM_SASL_USERNAME / SCENESTREAM_SASL_PASSWORD)")
    if protocol in ("PLAINTEXT", "SASL_PLAINTEXT") and "closed" in reason:
        return (f"{reason} (a TLS listener? set SCENESTREAM_SECURITY_PROTOCOL=SASL_SSL or SSL and "
                "SCENESTREAM_SSL_CAFILE)")
    if "CERTIFICATE_VERIFY_FAILED" in reason:
        return f"{reason} (SCENESTREAM_SSL_CAFILE must be the CA that signed the broker's certificate)"
    return reason



class _Leaving(logging.Filter):
    """After a stop signal: the Kafka clients' records of the broker they cannot reach (hundreds a second while it
    is gone) are the expected consequence of leaving, not news. What the user gets instead is one line from the
    worker when it stops (worker.ReadyWorker)."""

    NAMES = ("aiokafka", "faust", "mode")

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.CRITICAL or not record.name.startswith(self.NAMES)


_LEAVING = _Leaving()


def leaving() -> None:
    """Mute the Kafka clients (and faust's services) from now on, on every handler they reach; idempotent. A thread
    that dies of the missing broker while the process leaves is not reported either (its traceback would be the
    same news, in 30 lines)."""
    import threading

    handlers = list(logging.getLogger().handlers)
    for name in (*LOGGERS, *_Leaving.NAMES):
        handlers += logging.getLogger(name).handlers
    for handler in handlers:
        if _LEAVING not in handler.filters:
            handler.addFilter(_LEAVING)
    threading.excepthook = lambda args: None
