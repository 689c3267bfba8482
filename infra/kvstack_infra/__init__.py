"""kvstack's Pulumi components: one per concern, typed args, one type-token scheme.

Type tokens are ``kvstack:<module>:<Type>`` (:func:`component_type`); every child is created with
``parent=self`` and every component registers its real outputs. Provider shapes live only in
:mod:`kvstack_infra.adapter`.
"""

from __future__ import annotations

from kvstack import names

__all__ = ["component_type"]


def component_type(module: str, type_name: str) -> str:
    """The type token of a kvstack component: ``kvstack:<module>:<Type>``."""
    return f"{names.COMPONENT_TYPE_PREFIX}:{module}:{type_name}"
