from glob import glob

from setuptools import find_packages, setup

package_name = "grasp_bringup"

# launch/ and config/ are the repository's top-level folders (symlinked here) so the whole stack has
# one copy of each; they install to share/grasp_bringup/ as ros2 launch expects.
setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
        ("share/" + package_name + "/config/dds", glob("config/dds/*.xml")),
        ("share/" + package_name + "/config/arms", glob("config/arms/*.yaml")),
        ("share/" + package_name + "/config/sim", glob("config/sim/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="Grasp stack maintainers",
    maintainer_email="maintainers@grasp-stack.dev",
    description="Launch files, set-up YAML and the no-distro runner of the grasp stack.",
    license="BSD-3-Clause",
    tests_require=["pytest"],
    entry_points={"console_scripts": [
        "run = grasp_bringup.run:main",
        "plan_grasp = grasp_bringup.plan_grasp:main",
    ]},
)
