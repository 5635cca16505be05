"""Call ``/plan_grasp`` once and print the grasps (the no-distro stand-in for ``ros2 service call``).

    python -m grasp_bringup.plan_grasp [--max-grasps 3] [--min-quality 0.0] [--overlay overlay.png]

With ``--overlay`` it also saves the perception node's overlay image of that plan.
"""
from __future__ import annotations

import argparse
import math
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-grasps", type=int, default=1)
    p.add_argument("--min-quality", type=float, default=0.0)
    p.add_argument("--overlay", help="save the overlay image of this plan (PNG)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the service")
    args = p.parse_args(argv)

    import rclpy
    from grasp_interfaces.srv import PlanGrasp
    from sensor_msgs.msg import Image
    rclpy.init()
    node = rclpy.create_node("plan_grasp_client")
    overlays = []
    try:
        if args.overlay:
            node.create_subscription(Image, "/perception/overlay", overlays.append, 2)
        client = node.create_client(PlanGrasp, "/plan_grasp")
        if not client.wait_for_service(timeout_sec=args.timeout):
            print(f"error: /plan_grasp is not available after {args.timeout} s (is the stack running?)",
                  file=sys.stderr)
            return 1
        time.sleep(0.3 if args.overlay else 0.0)  # let the overlay subscription match
        t0 = time.perf_counter()
        future = client.call_async(PlanGrasp.Request(max_grasps=args.max_grasps, min_quality=args.min_quality))
        rclpy.spin_until_future_complete(node, future, timeout_sec=args.timeout)
        if not future.done():
            print("error: /plan_grasp did not answer", file=sys.stderr)
            return 1
        res = future.result()
        print(f"success={res.success} ({1e3 * (time.perf_counter() - t0):.0f} ms): {res.message}")
        for i, g in enumerate(res.grasps):
            pos, q = g.pose.pose.position, g.pose.pose.orientation
            print(f"  {i + 1}. {g.pose.header.frame_id}: xyz ({pos.x:.3f}, {pos.y:.3f}, {pos.z:.3f}) m, quat xyzw "
                  f"({q.x:.3f}, {q.y:.3f}, {q.z:.3f}, {q.w:.3f}), width {1e3 * g.width:.1f} mm, quality "
                  f"{g.quality:.3f}; image ({g.center_u:.0f}, {g.center_v:.0f}) px, {math.degrees(g.angle):.0f} deg")
        if args.overlay:
            deadline = time.monotonic() + 2.0
            while not overlays and time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.1)
            if overlays:
                import cv2
                from grasp_perception.nodes.conversions import rgb_from_image
                cv2.imwrite(args.overlay, rgb_from_image(overlays[-1])[..., ::-1])
                print(f"overlay: {args.overlay}")
            else:
                print("no overlay image received (publish_overlay may be false)", file=sys.stderr)
        return 0 if res.success else 3
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
