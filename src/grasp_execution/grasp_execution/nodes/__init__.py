"""ROS 2 nodes of the execution half (the only modules of grasp_execution that import rclpy)."""
