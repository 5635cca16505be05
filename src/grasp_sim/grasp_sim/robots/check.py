"""Sanity check of the arm models: `python -m grasp_sim.robots.check [--n 50] [--seed 0]`.

Per arm: FK of the home pose, top-down IK success over random reachable-region targets above a table
(success = pos err < 2 mm and rot err < 0.02 rad), median/p90 solve time, and servo tracking at home.
"""

from __future__ import annotations

import argparse
import math

import mujoco
import numpy as np

from .arm import ARMS, ArmModel, time_ik

# Top-down target regions relative to the arm base (table top = base plane): radius, bearing, height.
WORKSPACE = {
    "widowx": {"r": (0.18, 0.38), "bearing": (-1.0, 1.0), "z": (0.02, 0.15)},
    "kinova": {"r": (0.35, 0.70), "bearing": (-1.0, 1.0), "z": (0.02, 0.25)},
}


def sample_top_down_targets(arm_name: str, n: int, seed: int = 0) -> list[tuple[np.ndarray, float]]:
    """(position, yaw) pairs in the arm's top-down grasp region (base frame == world here)."""
    if arm_name not in WORKSPACE:
        raise KeyError(f"no workspace defined for arm {arm_name!r}; expected one of {sorted(WORKSPACE)}")
    ws = WORKSPACE[arm_name]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        r, b, z = rng.uniform(*ws["r"]), rng.uniform(*ws["bearing"]), rng.uniform(*ws["z"])
        out.append((np.array([r * math.cos(b), r * math.sin(b), z]), float(rng.uniform(-math.pi / 2, math.pi / 2))))
    return out


def servo_tracking_error(arm: ArmModel, model: mujoco.MjModel, seconds: float = 1.5) -> float:
    """EE distance (m) between the commanded home pose's FK and where the servos settle after `seconds`."""
    data = mujoco.MjData(model)
    arm.set_q(model, data, arm.home)
    p_ref, _ = arm.ee_pose(model, data)
    data.qpos[arm.qpos_adr(model)] += 0.05  # start off the target so the loop must actually move
    mujoco.mj_forward(model, data)
    for _ in range(int(seconds / model.opt.timestep)):
        mujoco.mj_step(model, data)
    p, _ = arm.ee_pose(model, data)
    return float(np.linalg.norm(p - p_ref))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=50, help="targets per arm")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.n <= 0:
        ap.error(f"--n must be > 0, got {args.n}")

    for name, arm in ARMS.items():
        model = mujoco.MjModel.from_xml_string(arm.mjcf())
        data = mujoco.MjData(model)
        arm.set_q(model, data, arm.home)
        pos, quat = arm.ee_pose(model, data)
        targets = sample_top_down_targets(name, args.n, args.seed)
        res, secs = time_ik(model, data, arm, targets, q_init=arm.home)
        ok = [r.converged for r in res]
        pe = np.array([r.pos_err for r in res]) * 1000
        re = np.array([r.rot_err for r in res])
        print(f"[{name}] {arm.robot}: joints {list(arm.joint_names)}")
        print(f"  home q={list(arm.home)} -> {arm.ee_site} pos={np.round(pos, 5).tolist()} quat={np.round(quat, 4).tolist()}")
        print(f"  gripper width range {arm.gripper_min_width * 1000:.1f}..{arm.gripper_max_width * 1000:.1f} mm")
        print(f"  IK top-down: {sum(ok)}/{len(ok)} converged (pos<2mm, rot<0.02rad); "
              f"median pos err {np.median(pe):.3f} mm, max rot err (converged) "
              f"{max([r for r, o in zip(re, ok) if o], default=float('nan')):.4f} rad; "
              f"solve ms median {np.median(secs) * 1000:.1f}, p90 {np.percentile(secs, 90) * 1000:.1f}")
        for (p, y), r in zip(targets, res):
            if not r.converged:
                print(f"    miss: pos={np.round(p, 3).tolist()} yaw={y:.2f} -> {r.pos_err * 1000:.1f} mm / {r.rot_err:.3f} rad")
        print(f"  servo settle at home after 1.5 s: EE error {servo_tracking_error(arm, model) * 1000:.2f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
