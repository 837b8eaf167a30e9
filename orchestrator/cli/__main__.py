"""``python -m orchestrator.cli``: the same as ``cloud``."""
import sys

from orchestrator.cli.main import main

sys.exit(main())
