"""Errors an agent reports about its input. They carry a stable code and a one-line message: the runtimes turn
them into `failed` video events or dead letters, never into a crashed worker."""
from __future__ import annotations


class InputError(Exception):
    """The input cannot be processed. `code` is machine-readable, `message` one line for people."""

    def __init__(self, code: str, message: str):
        self.code = code
        self.message = " ".join(str(message).split())  # always one line
        super().__init__(f"{code}: {self.message}")


class ConfigError(Exception):
    """A setting asks for something this machine or install cannot do; raised at start-up."""


def one_line(exc: BaseException) -> str:
    """An exception as one line for a record or a log: its type and message, whitespace folded, bounded."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
