"""Headless Chromium (Debian's `chromium`, installed by `make sysdeps`) driven through its command line: a page's DOM
after load (`--dump-dom`) and a screenshot (`--screenshot`); and a small DOM reader over the stdlib's HTMLParser.

Each call gets its own profile folder, so calls can overlap; `--no-sandbox` because tests may run as root (in a
container), where Chromium's sandbox refuses to start."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium on PATH (make sysdeps installs Debian's chromium)")


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="scenestream-chromium-") as profile:
        cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def dump_dom(url: str, timeout: float = 120, budget_ms: int | None = None) -> str:
    """The serialised DOM after the page's load event (and `budget_ms` of virtual time for its scripts)."""
    extra = [f"--virtual-time-budget={budget_ms}"] if budget_ms else []
    proc = _run([*extra, "--dump-dom", url], timeout)
    assert proc.returncode == 0 and proc.stdout.strip(), f"chromium --dump-dom failed: {proc.stderr[-2000:]}"
    return proc.stdout


def screenshot(url: str, path: Path, size: tuple[int, int] = (1200, 1600), timeout: float = 120,
               budget_ms: int | None = None) -> Path:
    extra = [f"--virtual-time-budget={budget_ms}"] if budget_ms else []
    proc = _run([*extra, f"--screenshot={path}", f"--window-size={size[0]},{size[1]}", url], timeout)
    assert proc.returncode == 0 and path.is_file(), f"chromium --screenshot failed: {proc.stderr[-2000:]}"
    return path


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    classes: set[str]
    children: list["Element"] = field(default_factory=list)
    text: str = ""

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list["Element"]:
        found = []
        for child in self.children:
            if (tag is None or child.tag == tag) and (cls is None or cls in child.classes):
                found.append(child)
            found.extend(child.find_all(tag, cls))
        return found

    def all_text(self) -> str:
        return self.text + "".join(c.all_text() for c in self.children)


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {}, set())
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        el = Element(tag, a, set(a.get("class", "").split()))
        self.stack[-1].children.append(el)
        if tag not in _VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.stack[-1].children.append(Element(tag, a, set(a.get("class", "").split())))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        self.stack[-1].text += data


def parse(html: str) -> Element:
    b = _Builder()
    b.feed(html)
    b.close()
    return b.root
