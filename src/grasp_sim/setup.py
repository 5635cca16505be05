from setuptools import find_packages, setup

package_name = "grasp_sim"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="Grasp stack maintainers",
    maintainer_email="maintainers@grasp-stack.dev",
    description="MuJoCo grasp cell: RGB-D camera, floating parallel-jaw gripper, objects, grasp trials.",
    license="BSD-3-Clause",
    tests_require=["pytest"],
    entry_points={"console_scripts": [
        "sim_camera = grasp_sim.nodes.sim_camera_node:main",
    ]},
)
