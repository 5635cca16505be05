"""Trial reports people look at: per-object tables and the EGAD success heatmap.

EGAD names its evaluation objects ``<letter><digit>``: the letter A-G is grasp difficulty, the digit
0-6 shape complexity. The heatmap lays success rates on that 7x7 grid with row and column means, as
in Fig. 5 of the Gaussian-maps paper.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

EGAD_ROWS = "ABCDEFG"
EGAD_COLS = "0123456"
_EGAD_NAME = re.compile(r"^([A-G])([0-6])$")


def egad_cell(name: str) -> tuple[int, int] | None:
    """(row, column) of an EGAD object name like ``C4``, or None for other objects."""
    m = _EGAD_NAME.match(Path(name).stem.upper())
    return (EGAD_ROWS.index(m[1]), EGAD_COLS.index(m[2])) if m else None


def egad_grid(per_object: dict[str, dict]) -> np.ndarray:
    """7x7 success rates (NaN where an object was not tried) from ``{name: {successes, attempts}}``."""
    grid = np.full((7, 7), np.nan)
    for name, r in per_object.items():
        cell = egad_cell(name)
        if cell is not None and r["attempts"]:
            grid[cell] = r["successes"] / r["attempts"]
    return grid


def write_egad_heatmap(per_object: dict[str, dict], path: str | Path, title: str = "") -> Path:
    """Write the EGAD grid heatmap (with row and column means) as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = egad_grid(per_object)
    full = np.full((8, 8), np.nan)
    with warnings.catch_warnings():  # rows/columns with no tried object stay NaN ("-")
        warnings.simplefilter("ignore", RuntimeWarning)
        full[:7, :7], full[:7, 7], full[7, :7] = grid, np.nanmean(grid, axis=1), np.nanmean(grid, axis=0)
        full[7, 7] = np.nanmean(grid)
    fig, ax = plt.subplots(figsize=(6.4, 6))
    ax.imshow(np.ma.masked_invalid(full), cmap="RdYlGn", vmin=0, vmax=1)
    for (r, c), v in np.ndenumerate(full):
        ax.text(c, r, "–" if np.isnan(v) else f"{100 * v:.0f}", ha="center", va="center",
                fontsize=9, fontweight="bold" if r == 7 or c == 7 else "normal")
    ax.axhline(6.5, color="k", lw=1.5), ax.axvline(6.5, color="k", lw=1.5)
    ax.set_xticks(range(8), list(EGAD_COLS) + ["mean"])
    ax.set_yticks(range(8), list(EGAD_ROWS) + ["mean"])
    ax.set_xlabel("shape complexity"), ax.set_ylabel("grasp difficulty")
    ax.set_title(title or "grasp success (%) per EGAD object")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def format_object_table(per_object: dict[str, dict]) -> str:
    """Plain-text per-object table, sorted by name, with the overall success rate."""
    lines = [f"{'object':<24} {'success':>7} {'trials':>6} {'rate':>6}"]
    total_s = total_n = 0
    for name in sorted(per_object):
        r = per_object[name]
        total_s += r["successes"]
        total_n += r["attempts"]
        rate = r["successes"] / r["attempts"] if r["attempts"] else float("nan")
        lines.append(f"{name:<24} {r['successes']:>7} {r['attempts']:>6} {100 * rate:>5.0f}%")
    overall = total_s / total_n if total_n else float("nan")
    lines.append(f"{'overall':<24} {total_s:>7} {total_n:>6} {100 * overall:>5.1f}%")
    return "\n".join(lines)
