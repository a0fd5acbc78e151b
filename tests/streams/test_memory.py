"""glibc malloc settings of a scenestream process (streams/core/memory.py): applied where the command starts,
in effect in a real `scenestream run` process, and left alone when the environment sets them."""
import os
import subprocess
import sys

import pytest

from scenestream.streams.core import memory
from tests import media

pytestmark = pytest.mark.skipif(memory.arena_count() is None, reason="glibc only")

# Twelve threads that each hold a malloc'd block at the same moment: glibc gives each its own arena unless capped.
THREADS = """
import ctypes, threading
from scenestream.streams.core import memory
libc = ctypes.CDLL("libc.so.6"); libc.malloc.restype = ctypes.c_void_p; libc.free.argtypes = [ctypes.c_void_p]
barrier = threading.Barrier(12)
def work():
    p = libc.malloc(1000); barrier.wait(); libc.free(p)
threads = [threading.Thread(target=work) for _ in range(12)]
[t.start() for t in threads]; [t.join() for t in threads]
print(memory.arena_count(), sorted(memory.applied))
"""


def python(code: str, **env) -> list[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "SCENESTREAM_MALLOC"))}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**full, **env})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("\n")[-2].split(" ", 1)


def test_the_command_package_caps_arenas_before_any_thread_starts():
    arenas, applied = python("import scenestream.streams.cli\n" + THREADS)
    assert int(arenas) <= memory.ARENAS
    assert applied == str(sorted(["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]))


def test_without_the_settings_threads_get_arenas_of_their_own():
    arenas, applied = python("import scenestream.streams.cli\n" + THREADS, SCENESTREAM_MALLOC="default")
    assert int(arenas) > memory.ARENAS and applied == "[]"  # the check above can fail


def test_the_environment_wins():
    arenas, applied = python("import scenestream.streams.cli\n" + THREADS, MALLOC_ARENA_MAX="3")
    assert int(arenas) == 3
    assert "MALLOC_ARENA_MAX" not in applied and "MALLOC_MMAP_THRESHOLD_" in applied


RUN = """
import sys, tempfile
from scenestream.streams.cli.main import main
from scenestream.streams.core import memory
rc = main(["run", sys.argv[1], "--out", tempfile.mkdtemp(), "-q", "--agents", ""])
print(rc, memory.arena_count())
"""


def test_a_real_run_keeps_to_the_arena_limit():
    # The command as the console script runs it (its entry function, in a fresh process), on real media: ingest's
    # decode thread, PyAV's threads and the runtime's executors all allocate.
    bikes = str(media.bikes())
    rc, arenas = python(RUN.replace("sys.argv[1]", repr(bikes)))
    assert rc == "0" and int(arenas) <= memory.ARENAS
    rc, arenas = python(RUN.replace("sys.argv[1]", repr(bikes)), SCENESTREAM_MALLOC="default")
    assert rc == "0" and int(arenas) > memory.ARENAS  # the same run makes more arenas without the settings
