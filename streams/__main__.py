import sys

from scenestream.streams.cli.main import main

sys.exit(main())
