"""``python -m grasp_perception.benchmark``: the command is :mod:`grasp_perception.cli.benchmark`."""
import sys

from .cli.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
