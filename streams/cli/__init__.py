"""The `scenestream` command: thin layers that parse arguments and hand over to the plan, a runtime or an output."""
