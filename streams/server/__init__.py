"""`scenestream serve`: the HTTP API and the live page."""
