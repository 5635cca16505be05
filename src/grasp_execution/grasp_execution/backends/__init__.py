"""Execution backends behind one interface: the simulated cell's arms (``sim``) and MoveIt (``moveit``).

A backend executes one grasp given in the arm's base frame (grasp-frame axes of
``grasp_perception.geometry``: +z approach, +x closing, origin the grasp point on the seen surface):
pre-grasp, approach along +z, close, lift, verify. It reports why when it cannot (IK or planning
failure: ``executed=False``, the arm did not move), so the trial runner can try the next candidate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from grasp_perception.geometry import GraspPose6D


@dataclass(frozen=True)
class ExecutionResult:
    success: bool            # the object is held after the lift
    executed: bool           # the arm moved (False: unreachable / planning failed before any motion)
    message: str
    lift_measured: float = float("nan")   # object rise in metres where the backend can measure it


class GraspBackend(Protocol):
    arm: str                 # widowx | kinova
    base_frame: str

    def execute(self, grasp: GraspPose6D, lift: float) -> ExecutionResult: ...

    def joint_state(self) -> tuple[list[str], list[float]]:
        """Joint names and positions now (for /joint_states)."""
