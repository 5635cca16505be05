"""The trial protocol with a fake in-memory arena: resume, refusal of other settings, torn lines."""
import json
import subprocess
import sys

import pytest

from grasp_sim.protocol import TrialExecutor, TrialLog, finish, run_protocol, summarise

NAMES = ["A0", "B3", "proc_007"]
SETTINGS = {"model": "models/m", "gripper": "widowx", "objects": NAMES, "seed": 0, "trials_per_object": 3,
            "depth_noise": True}


class Crash(Exception):
    pass


class FakeArena:
    """Succeeds on odd trials; records every call; can crash inside attempt number ``crash_at``."""

    def __init__(self, crash_at=None, interrupt_at=None):
        self.calls, self.attempts = [], 0
        self.crash_at, self.interrupt_at = crash_at, interrupt_at
        self.scene = None  # what reset put in the arena; attempt consumes it

    def reset(self, object_index, trial):
        self.calls.append(("reset", object_index, trial))
        self.scene = (object_index, trial)

    def attempt(self, object_index, trial):
        self.calls.append(("attempt", object_index, trial))
        assert self.scene == (object_index, trial), "attempt without a reset of this trial"
        self.scene = None  # a second attempt would retry the same (failed) scene
        if self.attempts == self.crash_at:
            raise Crash(f"arm fault at attempt {self.attempts}")
        if self.attempts == self.interrupt_at:
            raise KeyboardInterrupt
        self.attempts += 1
        ok = trial % 2 == 1
        return {"success": ok, "reason": "lifted and held" if ok else "no object lifted: slipped 0.01 m",
                "width_m": 0.05, "ms": {"reset": 1.0, "grasp": 2.0}}


def _lines(path):
    return path.read_text().splitlines()


def test_fake_arena_is_a_trial_executor():
    assert isinstance(FakeArena(), TrialExecutor)


def test_a_full_run_logs_a_header_then_every_trial_in_order(tmp_path):
    path = tmp_path / "trials.jsonl"
    arena, seen = FakeArena(), []
    records = run_protocol(arena, NAMES, 3, TrialLog.open(path, SETTINGS, resume=False), progress=False,
                           on_trial=lambda done, total, r: seen.append((done, total, r["object"], r["trial"])))
    assert [(r["object"], r["object_index"], r["trial"]) for r in records] == \
        [(n, i, t) for i, n in enumerate(NAMES) for t in range(3)]
    assert seen == [(k + 1, 9, r["object"], r["trial"]) for k, r in enumerate(records)]
    header, *lines = _lines(path)
    assert json.loads(header) == {"settings": SETTINGS}
    assert [json.loads(line) for line in lines] == records
    # Reset before every attempt, failed ones included: never two attempts on one scene.
    assert arena.calls == [(c, i, t) for i in range(3) for t in range(3) for c in ("reset", "attempt")]
    assert sum(not r["success"] for r in records) == 6


def test_resume_after_a_crash_finishes_the_rest_without_duplicates(tmp_path):
    path = tmp_path / "trials.jsonl"
    with pytest.raises(Crash):
        run_protocol(FakeArena(crash_at=4), NAMES, 3, TrialLog.open(path, SETTINGS, resume=False), progress=False)
    assert len(_lines(path)) == 1 + 4  # the four finished trials survived
    log = TrialLog.open(path, SETTINGS, resume=True)
    assert sorted(log.records()) == [("A0", 0), ("A0", 1), ("A0", 2), ("B3", 0)]
    arena = FakeArena()
    records = run_protocol(arena, NAMES, 3, log, progress=False)
    assert [c for c in arena.calls if c[0] == "attempt"] == [("attempt", 1, 1), ("attempt", 1, 2),
                                                               ("attempt", 2, 0), ("attempt", 2, 1),
                                                               ("attempt", 2, 2)]
    keys = [(json.loads(line)["object"], json.loads(line)["trial"]) for line in _lines(path)[1:]]
    assert len(keys) == len(set(keys)) == 9
    assert [(r["object"], r["trial"]) for r in records] == [(n, t) for n in NAMES for t in range(3)]
    # Resuming a finished run does nothing more.
    again = FakeArena()
    assert run_protocol(again, NAMES, 3, TrialLog.open(path, SETTINGS, resume=True), progress=False) == records
    assert again.calls == []


def test_keyboard_interrupt_propagates_with_the_finished_trials_on_disk(tmp_path, capsys):
    path = tmp_path / "trials.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_protocol(FakeArena(interrupt_at=2), NAMES, 3, TrialLog.open(path, SETTINGS, resume=False),
                     progress=False)
    assert len(_lines(path)) == 1 + 2 and "resume" in capsys.readouterr().err
    run_protocol(FakeArena(), NAMES, 3, TrialLog.open(path, SETTINGS, resume=True), progress=False)
    assert len(_lines(path)) == 1 + 9


def test_an_existing_log_needs_resume(tmp_path):
    path = tmp_path / "trials.jsonl"
    TrialLog.open(path, SETTINGS, resume=False)
    with pytest.raises(FileExistsError, match="resume"):
        TrialLog.open(path, SETTINGS, resume=False)


@pytest.mark.parametrize("key, value", [("model", "models/other"), ("gripper", "kinova"), ("seed", 1),
                                        ("objects", ["A0", "B3"])])
def test_resume_with_other_settings_is_refused_naming_the_key(tmp_path, key, value):
    path = tmp_path / "trials.jsonl"
    TrialLog.open(path, SETTINGS, resume=False)
    with pytest.raises(ValueError, match=key) as err:
        TrialLog.open(path, {**SETTINGS, key: value}, resume=True)
    assert json.dumps(SETTINGS[key]) in str(err.value) and json.dumps(value) in str(err.value)
    assert other_keys_not_named(str(err.value), key)


def other_keys_not_named(message, key):
    return not any(f"{k}:" in message for k in SETTINGS if k != key)


def test_every_differing_key_is_named_and_added_or_removed_keys_count(tmp_path):
    path = tmp_path / "trials.jsonl"
    TrialLog.open(path, SETTINGS, resume=False)
    changed = {k: v for k, v in SETTINGS.items() if k != "depth_noise"}
    with pytest.raises(ValueError) as err:
        TrialLog.open(path, {**changed, "seed": 5, "arm_ip": "10.0.0.2"}, resume=True)
    msg = str(err.value)
    assert "seed: 0 -> 5" in msg and "depth_noise: true -> (absent)" in msg and 'arm_ip: (absent) -> "10.0.0.2"' in msg


def test_more_trials_per_object_may_be_added_on_resume(tmp_path):
    path = tmp_path / "trials.jsonl"
    run_protocol(FakeArena(), NAMES, 3, TrialLog.open(path, SETTINGS, resume=False), progress=False)
    arena = FakeArena()
    records = run_protocol(arena, NAMES, 5, TrialLog.open(path, {**SETTINGS, "trials_per_object": 5}, resume=True),
                           progress=False)
    assert [c[1:] for c in arena.calls if c[0] == "attempt"] == [(i, t) for i in range(3) for t in (3, 4)]
    assert len(records) == 15 and len(_lines(path)) == 1 + 15
    # Fewer trials than logged: the report covers the first ones only.
    assert len(run_protocol(FakeArena(), NAMES, 2, TrialLog.open(path, SETTINGS, resume=True), progress=False)) == 6


def test_a_truncated_last_line_is_ignored_and_the_next_trial_starts_a_new_line(tmp_path):
    path = tmp_path / "trials.jsonl"
    with pytest.raises(Crash):
        run_protocol(FakeArena(crash_at=2), NAMES, 3, TrialLog.open(path, SETTINGS, resume=False), progress=False)
    with open(path, "a") as f:  # a crash in the middle of writing trial ("A0", 2)
        f.write('{"object": "A0", "object_index": 0, "trial": 2, "succ')
    log = TrialLog.open(path, SETTINGS, resume=True)
    assert sorted(log.records()) == [("A0", 0), ("A0", 1)] and log.torn == 1
    run_protocol(FakeArena(), NAMES, 3, log, progress=False)
    lines = _lines(path)
    assert lines[3].endswith('"succ') and json.loads(lines[4])["trial"] == 2
    # The torn line stays ignored on later loads, now that it is in the middle of the file.
    log = TrialLog.open(path, SETTINGS, resume=True)
    assert len(log.records()) == 9 and log.torn == 1


def test_a_log_without_a_settings_header_is_refused(tmp_path):
    path = tmp_path / "trials.jsonl"
    path.write_text(json.dumps({"object": "A0", "object_index": 0, "trial": 0, "success": True,
                                "reason": "lifted and held"}) + "\n")
    with pytest.raises(ValueError, match="no settings header"):
        TrialLog.open(path, SETTINGS, resume=True)


def test_an_empty_log_is_started_afresh_on_resume(tmp_path):
    path = tmp_path / "trials.jsonl"
    path.write_text("")
    log = TrialLog.open(path, SETTINGS, resume=True)
    assert len(log) == 0 and json.loads(_lines(path)[0]) == {"settings": SETTINGS}


def test_settings_compare_as_json(tmp_path):
    path = tmp_path / "trials.jsonl"
    TrialLog.open(path, {**SETTINGS, "objects": tuple(NAMES), "folder": tmp_path}, resume=False)
    TrialLog.open(path, {**SETTINGS, "objects": list(NAMES), "folder": str(tmp_path)}, resume=True)


def test_summarise_and_finish(tmp_path, capsys):
    records = run_protocol(FakeArena(), NAMES, 3, TrialLog.open(tmp_path / "t.jsonl", SETTINGS, resume=False),
                           progress=False)
    s = summarise(records, NAMES)
    assert s["n_trials"] == 9 and s["successes"] == 3 and s["per_object"]["B3"] == \
        {"successes": 1, "attempts": 3, "rate": 1 / 3}
    assert s["failure_reasons"] == {"no object lifted": 6} and s["mean_ms_per_trial"] == {"reset": 1.0, "grasp": 2.0}
    out = finish(records, NAMES, tmp_path, title="fake arena")
    printed = capsys.readouterr().out
    assert "overall" in printed and "no object lifted x6" in printed
    assert (tmp_path / "egad_heatmap.png").stat().st_size > 1000 and out["heatmap"].endswith("egad_heatmap.png")
    assert "heatmap" not in finish(records[-3:], NAMES[-1:], tmp_path / "none")  # no EGAD names, no heatmap


def test_the_protocol_module_imports_no_ros_mujoco_or_torch():
    # The package's __init__ loads the simulator; load protocol (and what it imports) without it.
    import grasp_sim
    code = ("import sys, types; pkg = types.ModuleType('grasp_sim'); pkg.__path__ = [sys.argv[1]]; "
            "sys.modules['grasp_sim'] = pkg; import grasp_sim.protocol; "
            "print([m for m in ('rclpy', 'mujoco', 'torch', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code, grasp_sim.__path__[0]], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
