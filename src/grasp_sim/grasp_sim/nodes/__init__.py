"""ROS 2 nodes of the simulated cell (the only modules of grasp_sim that import rclpy)."""
