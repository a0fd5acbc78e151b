"""The pipeline core, shared by every runtime: the agent table, batch handling, the joiner, how outputs fill a
SceneCaption, the run plan, live profiles, video ids, metrics."""
