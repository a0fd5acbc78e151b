"""The `scenestream` command: thin layers that parse arguments and hand over to the plan, a runtime or an output."""

# Both entry points (the `scenestream` script and `python -m streams`) import this package before anything else
# loads or starts a thread: the place where glibc's malloc settings still take effect (streams/core/memory.py says
# why they bound a long run's memory).
from scenestream.streams.core.memory import limit_malloc as _limit_malloc

_limit_malloc()
