"""Topic and frame names of realsense-ros (``ros2 launch realsense2_camera rs_launch.py align_depth.enable:=true``),
used by the RealSense node, the simulated camera and the perception node so any of them can feed the stack."""
COLOR_TOPIC = "/camera/camera/color/image_raw"
COLOR_INFO_TOPIC = "/camera/camera/color/camera_info"
DEPTH_TOPIC = "/camera/camera/aligned_depth_to_color/image_raw"
DEPTH_INFO_TOPIC = "/camera/camera/aligned_depth_to_color/camera_info"
CAMERA_FRAME = "camera_color_optical_frame"
