"""The built wheel: one top-level name, `scenestream`, holding every module of the card's folders."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("schemas", "agents", "streams")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    had_build = (ROOT / "build").exists()
    # No build isolation: the venv's setuptools builds it, so no download is needed.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True)
    if not had_build:  # setuptools leaves its build/ folder in the tree; a stale copy of every module misleads
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    [path] = out.glob("scenestream-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_installs_only_scenestream(wheel):
    tops = {n.split("/")[0] for n in wheel.namelist() if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"scenestream"}
    [top_level] = [n for n in wheel.namelist() if n.endswith(".dist-info/top_level.txt")] or [None]
    if top_level:
        assert wheel.read(top_level).decode().split() == ["scenestream"]


def test_the_wheel_holds_every_module_and_data_file(wheel):
    names = set(wheel.namelist())
    tree = {f"scenestream/{p.relative_to(ROOT).as_posix()}" for f in FOLDERS for p in (ROOT / f).rglob("*")
            if p.is_file() and p.suffix in (".py", ".json", ".j2", ".css") and "__pycache__" not in p.parts}
    assert tree - names == set()


def test_the_command_is_in_the_namespace(wheel):
    [entry] = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    assert "scenestream = scenestream.streams.cli.main:main" in wheel.read(entry).decode()
