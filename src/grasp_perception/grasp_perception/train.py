"""``python -m grasp_perception.train``: the command is :mod:`grasp_perception.cli.train`."""
import sys

from .cli.train import main

if __name__ == "__main__":
    sys.exit(main())
