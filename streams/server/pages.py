"""What the server's routes share about run folders and pages: the video id a folder may be named by, the marker of a
folder this server made, and the Content-Security-Policy of each kind of page. Its own module so that the routers
(app.py, ask.py) both import it and not each other."""
from __future__ import annotations

import re
from pathlib import Path

VIDEO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")  # also a folder name under --out
MARKER = ".scenestream-serve"  # in each run folder this server made: the only folders /runs serves
# A report: self-contained (inline CSS, pictures as data: URIs), no script.
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; "
              "base-uri 'none'; form-action 'none'")


def page_csp(nonce: str) -> str:
    """The live page: its own inline script and style (by nonce), pictures as data: URIs, fetches to itself only."""
    return (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def own_run(out: Path, video_id: str) -> Path | None:
    """`out/video_id` if it is a run folder this server made (named by a valid id and marked)."""
    if not VIDEO_ID.match(video_id):
        return None
    folder = out / video_id
    return folder if (folder / MARKER).is_file() and not folder.is_symlink() else None
