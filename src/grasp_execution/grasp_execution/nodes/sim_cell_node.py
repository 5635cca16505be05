"""The simulated cell in one process: its camera (``grasp_sim`` sim camera node, ``/sim/reset_scene``) and
its arm (the execution node with the sim backend, ``/execute_grasp``, ``/joint_states``) share one
:class:`grasp_sim.SimCell`, so the arm moves the objects the camera sees. Used with ``use_sim:=true``.
"""
from __future__ import annotations

import threading

from grasp_perception.nodes import spin
from grasp_sim.nodes import sim_camera_node

from ..backends.sim import SimBackend
from . import execution_node

# One parameter set for both nodes: each reads its own names (and `arm`, `base_frame` mean the same to both).
PARAMETERS = {**sim_camera_node.PARAMETERS, **execution_node.PARAMETERS,
              "backend": ("sim", "always sim here")}


def create_node(**parameters) -> list:
    params = {k: v for k, v in parameters.items()}
    camera_params = {k: v for k, v in params.items() if k in sim_camera_node.PARAMETERS}
    exec_params = {k: v for k, v in params.items() if k in execution_node.PARAMETERS}
    lock = threading.Lock()
    camera = sim_camera_node.create_node(lock=lock, **camera_params)
    try:
        arm = camera.settings.arm
        backend = SimBackend(camera.cell, lock, arm, exec_params.get("base_frame", camera.get_parameter("base_frame").value))
        execution = execution_node.create_node(backend, **{**exec_params, "backend": "sim", "arm": arm})
    except Exception:
        camera.destroy_node()
        raise
    return [camera, execution]


def main(args=None) -> None:
    spin(create_node, num_threads=4, args=args)


if __name__ == "__main__":
    main()
