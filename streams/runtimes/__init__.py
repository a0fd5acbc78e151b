"""The runtimes that execute the pipeline the core describes: embedded (one process) and kafka (faust workers)."""
