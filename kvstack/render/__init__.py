"""Render: the stack's outputs merged into every app's own wrangler file (and the .env of rest apps).

Merge, never regenerate: only the `kv_namespaces` entries kvstack manages change; comments, order,
formatting, other bindings and unmanaged kv bindings stay. Rendering is pure — :func:`render_wrangler`
and :func:`render_env` map text to text, :func:`plan_render` reads files and returns :class:`FilePlan`
objects without writing anything — and :func:`write_plan` is the one place that writes.

The post-deploy checks reuse :func:`plan_render`: a file is in order when its plan is not
:attr:`FilePlan.drifted` (no change to make, no error finding such as a placeholder id).
"""

from kvstack.render._dotenv import render_env
from kvstack.render._files import atomic_write, check_plans, write_plan
from kvstack.render._model import MASK, FilePlan, Finding, KvBinding, Rendered, WranglerSpec, section_label
from kvstack.render._plan import ENV_FILE_MODE, format_of, plan_file, plan_render, read_wrangler_data, render_wrangler

__all__ = [
    "ENV_FILE_MODE",
    "MASK",
    "FilePlan",
    "Finding",
    "KvBinding",
    "Rendered",
    "WranglerSpec",
    "atomic_write",
    "check_plans",
    "format_of",
    "plan_file",
    "plan_render",
    "read_wrangler_data",
    "render_env",
    "render_wrangler",
    "section_label",
    "write_plan",
]
