import os

# Offline everywhere: nothing in the tests may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("SCENESTREAM_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
