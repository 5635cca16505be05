"""``python -m grasp_perception.predict``: the command is :mod:`grasp_perception.cli.predict`."""
import sys

from .cli.predict import main

if __name__ == "__main__":
    sys.exit(main())
