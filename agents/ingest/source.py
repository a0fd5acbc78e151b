"""Where a video comes from: a URI turned into an open PyAV container, or a one-line InputError.

PyAV (FFmpeg) does the actual reading for every scheme; this module only decides what is allowed, checks the
cheap things first (a missing path, a directory, an empty file) so their errors are plain, and maps FFmpeg's
errors to stable codes."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import av

from scenestream.agents.errors import InputError

NETWORK_SCHEMES = ("http", "https", "rtsp", "rtsps", "rtmp", "rtmps", "udp", "rtp")  # live ones: streams/core/live.py
SCHEMES = ("file",) + NETWORK_SCHEMES


def resolve(uri: str) -> tuple[str, str]:
    """Return (kind, target): ("file", path) or ("network", url). Raises InputError for malformed or unsupported
    URIs and for local paths that cannot be a video."""
    if not isinstance(uri, str) or not uri.strip():
        raise InputError("bad_uri", "the source is empty")
    uri = uri.strip()
    if "://" not in uri:
        return "file", _check_path(Path(uri).expanduser())
    try:
        parts = urlsplit(uri)
        parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise InputError("bad_uri", f"malformed URI {uri!r}: {exc}")
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InputError("unsupported_scheme", f"unsupported scheme {scheme!r} in {uri!r} (supported: {', '.join(SCHEMES)})")
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InputError("bad_uri", f"file URI with a remote host: {uri!r}")
        return "file", _check_path(Path(unquote(parts.path)))
    if not parts.hostname:
        raise InputError("bad_uri", f"malformed URI {uri!r}: no host")
    return "network", uri


def _check_path(path: Path) -> str:
    if not path.exists():
        raise InputError("not_found", f"no such file: {path}")
    if path.is_dir():
        raise InputError("not_a_file", f"is a directory, not a video: {path}")
    if not os.access(path, os.R_OK):
        raise InputError("unreadable", f"permission denied: {path}")
    if path.stat().st_size == 0:
        raise InputError("empty_file", f"empty file: {path}")
    return str(path)


def open_container(uri: str, timeout: float = 15.0) -> av.container.InputContainer:
    kind, target = resolve(uri)
    options = {}
    if kind == "network":
        micros = str(int(timeout * 1_000_000))
        # rw_timeout covers http reads; timeout is rtsp's socket timeout (and http's connect timeout).
        options = {"rw_timeout": micros, "timeout": micros}
        if target.startswith(("rtsp://", "rtsps://")):
            options["rtsp_transport"] = "tcp"
        elif target.startswith("rtmp"):
            del options["timeout"]  # rtmp's `timeout` is how long to *listen* for a client: it would turn us into a server
    try:
        return av.open(target, mode="r", options=options, timeout=timeout if kind == "network" else None)
    except av.error.FileNotFoundError:
        raise InputError("not_found", f"no such file: {target}")
    except av.error.InvalidDataError:
        raise InputError("not_media", f"not a media file FFmpeg can read: {target}")
    except av.error.ConnectionRefusedError:
        raise InputError("unreachable", f"connection refused: {target}")
    except av.error.HTTPNotFoundError:
        raise InputError("not_found", f"HTTP 404 not found: {target}")
    except (av.error.HTTPError, av.error.HTTPClientError) as exc:  # PyAV's 4xx errors are not HTTPErrors
        raise InputError("unreachable", f"HTTP error for {target}: {exc.strerror}")
    except (av.error.FFmpegError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError("unreadable", f"cannot open {target}: {reason}")
