"""``python -m grasp_perception.export``: the command is :mod:`grasp_perception.cli.export`."""
import sys

from .cli.export import main

if __name__ == "__main__":
    sys.exit(main())
