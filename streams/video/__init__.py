"""The video as a whole, built from its final scene records: chapters (chapters.py), a summary (summary.py) and
questions answered with the scenes that show it (ask.py). Each consumes records one at a time in bounded memory,
so the embedded runtime's run folder and the Kafka joiner's output feed the same code."""
