"""Train a generative grasp network from a YAML config.

    python -m grasp_perception.train --config config/train/ggcnn2_jacquard.yaml [--set train.epochs=5] [--resume]
    torchrun --nproc_per_node 2 -m grasp_perception.train --config ...     # DDP (gloo on CPU, nccl on GPU)

What it writes: see :mod:`grasp_perception.training`.
"""
from __future__ import annotations

import argparse
import sys

from ..config import ConfigError, load_config
from ..training import train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML file under config/train/")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=5 (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue from output_dir/checkpoints/last.pt")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.set)
        train(cfg, resume=args.resume, progress=not args.no_progress)
    except (ConfigError, FileExistsError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
