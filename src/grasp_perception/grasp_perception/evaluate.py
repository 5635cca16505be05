"""``python -m grasp_perception.evaluate``: the command is :mod:`grasp_perception.cli.evaluate`."""
import sys

from .cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
