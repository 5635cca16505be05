from setuptools import find_packages, setup

package_name = "grasp_execution"

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
    description="Grasp execution, EGAD trial runner and per-trial rosbag2 recording.",
    license="BSD-3-Clause",
    tests_require=["pytest"],
    entry_points={"console_scripts": [
        "execution = grasp_execution.nodes.execution_node:main",
        "sim_cell = grasp_execution.nodes.sim_cell_node:main",
        "trial_runner = grasp_execution.nodes.trial_runner_node:main",
    ]},
)
