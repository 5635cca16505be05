"""The EGAD-style trial protocol, once, for the simulator CLI and the ROS trial runner.

For each object, N attempts: the object is thrown into the arena at random (simulation: re-dropped
at a random pose; real arm: the operator resets it and the runner waits), the grasp is planned and
executed, and success is recorded. Every attempt follows a reset, so a failed grasp is never retried
from the same state.

Plain Python: no ROS, MuJoCo or torch here. What differs between simulation and the real arm is a
:class:`TrialExecutor` (``reset`` and ``attempt``); :func:`run_protocol` drives it, writing each trial
to a :class:`TrialLog` as it finishes (flushed and fsync'ed, so a crash loses at most the trial in
flight), skipping the trials already logged when a run resumes, and :func:`finish` prints the
per-object table and writes the EGAD heatmap (letters A-G x digits 0-6).

The log is JSON lines: first a header ``{"settings": {...}}`` (model, arm, objects, seed, ...), then
one record per trial. A resume whose settings differ from the header's is refused, naming the
difference; only the keys in ``may_change`` (by default ``trials_per_object``) may differ.
"""
from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm

from .report import egad_cell, format_object_table, write_egad_heatmap

__all__ = ["TrialExecutor", "TrialLog", "run_protocol", "summarise", "finish", "trial_key",
           "egad_cell", "format_object_table", "write_egad_heatmap"]


@runtime_checkable
class TrialExecutor(Protocol):
    """What one arena (simulated or real) does for the protocol."""

    def reset(self, object_index: int, trial: int) -> None:
        """Put object ``object_index`` into the arena at a random pose for ``trial``.

        Simulation: re-drop it at a pose seeded by object and trial. Real arm: ask the operator to
        throw it in and wait until they confirm.
        """

    def attempt(self, object_index: int, trial: int) -> dict:
        """Plan and execute one grasp on the current scene; return the trial record.

        The record has at least ``success`` (bool) and ``reason`` (str); it may carry more (u, v,
        width_m, position, ``ms`` timings, bag path, ...). ``object``, ``object_index`` and
        ``trial`` are filled in by :func:`run_protocol`.
        """


def trial_key(record: dict) -> tuple[str, int]:
    """The key of a per-object trial record: (object name, trial)."""
    return record["object"], int(record["trial"])


def _plain(settings: dict) -> dict:
    """``settings`` as it reads back from JSON (tuples -> lists, paths -> strings)."""
    return json.loads(json.dumps(dict(settings), default=str))


_ABSENT = object()


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value)


class TrialLog:
    """The resumable JSON-lines log of one session: a settings header, then one line per trial.

    Create it with :meth:`open`. Records are keyed by ``key`` (by default (object name, trial));
    a record logged twice keeps its last line.
    """

    def __init__(self, path: Path, settings: dict, records: dict, *, key: Callable[[dict], Hashable],
                 torn: int = 0, needs_newline: bool = False):
        self.path = path
        self.settings = settings
        self.key = key
        self.torn = torn  # lines ignored because a crash cut them short
        self._records = records
        self._needs_newline = needs_newline

    @classmethod
    def open(cls, path: str | Path, settings: dict, resume: bool, *,
             key: Callable[[dict], Hashable] = trial_key,
             may_change: Iterable[str] = ("trials_per_object",)) -> TrialLog:
        """Start a new log at ``path``, or with ``resume`` continue the one there.

        FileExistsError if ``path`` exists and ``resume`` is False. On resume, ValueError if the log
        has no settings header (an older format) or if its settings differ from ``settings`` in
        any key other than ``may_change``; the message names every differing key, old and new.
        """
        path = Path(path)
        settings = _plain(settings)
        if path.exists() and not resume:
            raise FileExistsError(f"{path} already holds trials; resume them (--resume) or choose "
                                  f"another folder")
        if not path.exists():
            return cls._create(path, settings, key)
        header, lines, torn, needs_newline = cls._read(path)
        if header is None and not lines:  # empty, or only a header cut short: nothing was run
            return cls._create(path, settings, key)
        if header is None:
            raise ValueError(f"{path} has no settings header (written by an older version), so its "
                             f"trials cannot be checked against these settings; choose another folder")
        may_change = set(may_change)
        diff = [f"{k}: {_show(header.get(k, _ABSENT))} -> {_show(settings.get(k, _ABSENT))}"
                for k in sorted(set(header) | set(settings), key=str)
                if k not in may_change and header.get(k, _ABSENT) != settings.get(k, _ABSENT)]
        if diff:
            raise ValueError(f"{path} was run with other settings; resume with the same ones or choose "
                             f"another folder. Differences (logged -> now): " + "; ".join(diff))
        records = {}
        for n, record in lines:
            try:
                records[key(record)] = record
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{n}: not a trial record ({exc!r})") from None
        return cls(path, settings, records, key=key, torn=torn, needs_newline=needs_newline)

    @classmethod
    def _create(cls, path: Path, settings: dict, key) -> TrialLog:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:
            f.write(json.dumps({"settings": settings}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(path.parent)
        return cls(path, settings, {}, key=key)

    @staticmethod
    def _read(path: Path) -> tuple[dict | None, list[tuple[int, dict]], int, bool]:
        """(header settings or None, [(line number, record)], torn lines, last line unterminated)."""
        text = path.read_text()
        header, lines, torn = None, [], 0
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                torn += 1  # a write cut short by a crash (each line is written whole otherwise)
                continue
            if not isinstance(value, dict):
                raise ValueError(f"{path}:{n}: not a JSON object")
            if n == 1 and set(value) == {"settings"} and isinstance(value["settings"], dict):
                header = value["settings"]
            else:
                lines.append((n, value))
        return header, lines, torn, bool(text) and not text.endswith("\n")

    def records(self) -> dict:
        """The finished trials, keyed by ``key`` ((object name, trial) by default)."""
        return dict(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._records

    def append(self, record: dict) -> None:
        """Log one finished trial: one line, flushed and fsync'ed before this returns."""
        k = self.key(record)
        line = json.dumps(record) + "\n"
        with open(self.path, "a") as f:
            if self._needs_newline:  # the last line was cut short: start on a fresh one
                f.write("\n")
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self._needs_newline = False
        self._records[k] = record


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_IDS = ("object", "object_index", "trial")


def run_protocol(executor: TrialExecutor, object_names: Sequence[str], trials_per_object: int,
                 log: TrialLog, *, on_trial: Callable[[int, int, dict], None] | None = None,
                 progress: bool = True) -> list[dict]:
    """Run ``trials_per_object`` trials of every object, in order, skipping those already logged.

    Each trial is ``executor.reset(i, t)`` then ``executor.attempt(i, t)``; the record gets
    ``object``, ``object_index`` and ``trial``, is appended to ``log`` and passed to
    ``on_trial(done, total, record)`` (``done`` counts resumed trials too). An interruption
    (KeyboardInterrupt, or any error of the executor) propagates once the finished trials are on
    disk; running again with the same log finishes the rest. Returns the records of all
    ``len(object_names) x trials_per_object`` trials in object/trial order.
    """
    if trials_per_object < 1:
        raise ValueError(f"trials_per_object must be >= 1, got {trials_per_object}")
    names = list(object_names)
    slots = [(i, name, t) for i, name in enumerate(names) for t in range(trials_per_object)]
    logged = log.records()
    results = {(name, t): logged[(name, t)] for _, name, t in slots if (name, t) in logged}
    todo = [(i, name, t) for i, name, t in slots if (name, t) not in results]
    total = len(slots)
    wins = sum(bool(r.get("success")) for r in results.values())
    bar = tqdm(total=total, initial=len(results), desc="trials", unit="trial", disable=not progress,
               dynamic_ncols=True)
    try:
        for i, name, t in todo:
            executor.reset(i, t)
            outcome = executor.attempt(i, t)
            record = {"object": name, "object_index": i, "trial": t,
                      **{k: v for k, v in outcome.items() if k not in _IDS}}
            record["success"] = bool(record.get("success", False))
            record.setdefault("reason", "")
            log.append(record)
            results[(name, t)] = record
            wins += record["success"]
            bar.set_postfix(success=f"{wins}/{len(results)}", refresh=False)
            bar.update(1)
            if on_trial is not None:
                on_trial(len(results), total, record)
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: {len(results)} of {total} trials are in {log.path}; resume to run the rest",
              file=sys.stderr, flush=True)
        raise
    finally:
        bar.close()
    return [results[(name, t)] for _, name, t in slots]


def _reason_group(reason: str) -> str:
    """The first clause of a failure reason, numbers masked ("unreachable: 0.61 m" -> "unreachable")."""
    return re.sub(r"-?\d+(\.\d+)?", "#", re.split(r"[:;(]", reason)[0].strip())


def summarise(records: list[dict], names: Sequence[str]) -> dict:
    """Per-object successes/attempts/rate, the overall rate (successes over attempts), mean timings and
    failure reasons. A record marked ``invalid`` (the simulation broke) is counted in ``n_invalid`` only."""
    invalid = [r for r in records if r.get("invalid")]
    records = [r for r in records if not r.get("invalid")]
    per_object = {n: {"successes": 0, "attempts": 0} for n in names}
    for r in records:
        per_object[r["object"]]["attempts"] += 1
        per_object[r["object"]]["successes"] += int(r["success"])
    for r in per_object.values():
        r["rate"] = r["successes"] / r["attempts"] if r["attempts"] else None
    n = sum(r["attempts"] for r in per_object.values())
    s = sum(r["successes"] for r in per_object.values())
    keys = list(dict.fromkeys(k for r in records for k in r.get("ms", {})))  # first-seen order
    timings = {k: float(np.mean([r["ms"][k] for r in records if k in r.get("ms", {})])) for k in keys}
    failures = Counter(_reason_group(r.get("reason", "")) for r in records if not r["success"])
    return {"per_object": per_object, "n_trials": n, "successes": s, "success_rate": s / n if n else None,
            "n_invalid": len(invalid),  # trials with no valid attempt; and every attempt re-run as invalid:
            "n_invalid_attempts": sum(len(r.get("invalid_runs", [])) for r in records + invalid),
            "mean_ms_per_trial": timings, "failure_reasons": dict(failures.most_common())}


def finish(records: list[dict], names: Sequence[str], report_dir: str | Path | None,
           title: str | Callable[[dict], str] = "") -> dict:
    """Summarise, print the per-object table and failure reasons, and write the EGAD heatmap.

    The heatmap (``report_dir/egad_heatmap.png``, its path under ``"heatmap"`` in the returned
    summary) is written when some object has an EGAD name and ``report_dir`` is given. ``title``
    is the heatmap's title: a function of the summary, or a label followed by the overall rate.
    """
    summary = summarise(records, names)
    print(format_object_table(summary["per_object"]))
    if summary["failure_reasons"]:
        print("failures: " + ", ".join(f"{k} x{v}" for k, v in summary["failure_reasons"].items()))
    if summary["n_invalid_attempts"]:
        print(f"invalid (physics broke or the scene never settled; re-run, not counted): "
              f"{summary['n_invalid_attempts']} attempts, {summary['n_invalid']} trials left without a valid one")
    if report_dir is not None and summary["n_trials"] and any(egad_cell(n) for n in names):
        if callable(title):
            text = title(summary)
        else:
            rate = f"{100 * summary['success_rate']:.1f} % over {summary['n_trials']} trials"
            text = f"{title}: {rate}" if title else rate
        summary["heatmap"] = str(write_egad_heatmap(summary["per_object"], Path(report_dir) / "egad_heatmap.png",
                                                    title=text))
    return summary
