"""Import a Pulumi provider package so that each of its resource modules loads on first use.

Pulumi's Python codegen writes a package ``__init__`` that star-imports every resource module:
pulumi-cloudflare has 779 of them, and importing it costs about 1.8 CPU-seconds, of which the program
needs the few modules of the resources it declares. :func:`import_lazily` executes the package's own
``__init__`` without those star-imports and resolves each of their names on first access, through
the module-level ``__getattr__`` of PEP 562, from an index of the modules' ``__all__`` lists. The
shared ``_inputs`` and ``outputs`` modules, the config subpackage and the resource-module registration
run exactly as in the real ``__init__``; the names, and the objects behind them, are the same.

Written here because nothing maintained fits: ``importlib.util.LazyLoader`` defers whole modules, but a
star-import forces the module it names at once, and ``lazy_loader`` serves packages that adopt it in
their own ``__init__``.

A package that does not have the generated shape is imported the ordinary way.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["import_lazily"]

_STAR_IMPORT = re.compile(r"^from \.(\w+) import \*\n", re.MULTILINE)
_ALL_LIST = re.compile(r"^__all__ = (\[.*?\])", re.MULTILINE | re.DOTALL)
# Star-imported by every resource module too, so the first resource used loads it anyway: kept eager.
_SHARED_MODULES = frozenset({"_inputs"})
# Generated modules declare __all__ within their first lines (after the license header and imports).
_HEAD_BYTES = 8192


def import_lazily(package: str) -> ModuleType:
    """``import package``, deferring the resource modules its ``__init__`` star-imports."""
    if package in sys.modules:
        return sys.modules[package]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None or spec.loader is None or not spec.submodule_search_locations:
        return importlib.import_module(package)
    init = Path(spec.origin)
    source = init.read_text(encoding="utf-8")
    deferred = [name for name in _STAR_IMPORT.findall(source) if name not in _SHARED_MODULES]
    exports = _exports(init.parent, deferred)
    if not deferred or exports is None:
        return importlib.import_module(package)
    # Where each name ends up bound after the star-imports: the last module exporting it wins.
    homes = {name: home for home, names in exports.items() for name in names}

    module = importlib.util.module_from_spec(spec)

    def star_import(name: str) -> object:
        """What ``from .home import *`` would have bound ``name`` to, performed for its whole module."""
        home = homes.get(name, name if name in exports else None)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        submodule = importlib.import_module(f"{package}.{home}")  # binds the submodule under its name
        for exported in exports[home]:
            if homes[exported] == home:
                module.__dict__[exported] = getattr(submodule, exported)
        return module.__dict__.get(name, submodule)

    def names() -> list[str]:
        return sorted(set(module.__dict__) | set(homes) | set(exports))

    module.__dict__["__getattr__"] = star_import
    module.__dict__["__dir__"] = names
    eager_source = _STAR_IMPORT.sub(lambda match: "" if match.group(1) in exports else match.group(0), source)
    sys.modules[package] = module
    try:
        exec(compile(eager_source, spec.origin, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[package]
        raise
    return module


def _exports(folder: Path, modules: list[str]) -> dict[str, list[str]] | None:
    """Each module's ``__all__``, in star-import order; None if one of them declares none."""
    exports: dict[str, list[str]] = {}
    for name in modules:
        try:
            with (folder / f"{name}.py").open(encoding="utf-8") as file:
                head = file.read(_HEAD_BYTES)
        except OSError:
            return None
        declared = _ALL_LIST.search(head)
        if declared is None:
            return None
        try:
            names = ast.literal_eval(declared.group(1))
        except (ValueError, SyntaxError):
            return None
        if not isinstance(names, list) or not all(isinstance(exported, str) for exported in names):
            return None
        exports[name] = names
    return exports
