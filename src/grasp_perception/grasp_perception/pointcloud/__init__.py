"""Point-cloud grasping: PointNet++ in plain PyTorch and GraspNet-1Billion's 6-DoF baseline network."""
