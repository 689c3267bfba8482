"""Packages of kvstack: everything under kvstack/ and checks/, and the Pulumi program of infra/ as kvstack.program.

infra/ stays where Pulumi.yaml's `main: infra/` says (the Pulumi CLI runs it there); the installed tool
finds the same files inside the package (kvstack/engine.py). Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["kvstack*", "checks*"], exclude=["kvstack.workers.*"]),
        "kvstack.program",
        "kvstack.program.kvstack_infra",
    ],
    package_dir={"kvstack.program": "infra"},
)
