"""`scenestream bench`: the pipeline measured against the libraries it calls."""
