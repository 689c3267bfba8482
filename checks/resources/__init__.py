"""Small resource objects the checks assert on, one module per kind (the pytest-testinfra model).

A resource knows where it is (``label``) and fetches what it needs lazily, once; the checks only
compare what it found with what the outputs declare.
"""

from checks.resources.app import FlowApp, FlowTimeout, poll
from checks.resources.binding import (
    AppHealth,
    PagesDeployment,
    WorkerScript,
    WranglerFileResource,
    binding_problems,
    script_names,
)
from checks.resources.keyspace import KeyspaceResource
from checks.resources.missing import MissingFromOutputs
from checks.resources.namespace import NamespaceResource
from checks.resources.token import TokenResource, parse_time

__all__ = [
    "AppHealth",
    "FlowApp",
    "FlowTimeout",
    "KeyspaceResource",
    "MissingFromOutputs",
    "NamespaceResource",
    "PagesDeployment",
    "TokenResource",
    "WorkerScript",
    "WranglerFileResource",
    "binding_problems",
    "parse_time",
    "poll",
    "script_names",
]
