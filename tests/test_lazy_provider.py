"""kvstack.lazy_provider: pulumi-cloudflare with the same names, loading only the modules used."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kvstack.lazy_provider import import_lazily
from tests.pulumi_fake import ROOT

# Prints, for every public name of pulumi_cloudflare, where the object behind it comes from.
_SURFACE = """
import json, sys, types
{load}
surface = {{}}
for name in dir(cloudflare):
    if name.startswith("_"):
        continue
    value = getattr(cloudflare, name)
    if isinstance(value, types.ModuleType):
        surface[name] = "module " + value.__name__
    else:
        surface[name] = getattr(value, "__module__", "?") + "." + getattr(value, "__qualname__", type(value).__name__)
print(json.dumps(surface))
"""
_EAGER = "import pulumi_cloudflare as cloudflare"
_LAZY = "from kvstack.lazy_provider import import_lazily; cloudflare = import_lazily('pulumi_cloudflare')"


def _surface(load: str) -> dict[str, str]:
    code = _SURFACE.format(load=load)
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    surface: dict[str, str] = json.loads(result.stdout)
    return surface


def test_the_lazy_package_has_the_same_names_bound_to_the_same_objects() -> None:
    eager, lazy = _surface(_EAGER), _surface(_LAZY)
    assert len(eager) > 2000, "pulumi-cloudflare should export thousands of names"
    missing = sorted(set(eager) - set(lazy))
    extra = sorted(set(lazy) - set(eager))
    different = sorted(name for name in set(eager) & set(lazy) if eager[name] != lazy[name])
    assert not missing, f"names the lazy package lacks: {missing[:10]}"
    assert not extra, f"names only the lazy package has: {extra[:10]}"
    assert not different, f"bound differently: {[(name, eager[name], lazy[name]) for name in different[:10]]}"


def test_the_program_loads_only_the_resource_modules_it_uses() -> None:
    code = (
        "import json, sys; from tests.pulumi_fake import run; run('dev');"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('pulumi_cloudflare.'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    used = {"workers_kv_namespace", "pages_project", "account_token", "get_account_api_token_permission_groups_list"}
    assert {f"pulumi_cloudflare.{module}" for module in used} <= loaded
    assert len(loaded) < 20, f"expected the few modules the program uses, got {len(loaded)}: {sorted(loaded)[:30]}"


def _package(root: Path, name: str, modules: dict[str, str], init_tail: str = "") -> None:
    folder = root / name
    folder.mkdir()
    stars = "".join(f"from .{module} import *\n" for module in modules)
    (folder / "__init__.py").write_text(f"{stars}{init_tail}", encoding="utf-8")
    for module, body in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(body), encoding="utf-8")


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for module in set(sys.modules) - before:
        del sys.modules[module]


def test_a_name_loads_its_module_on_first_use_and_no_other(packages: Path) -> None:
    _package(
        packages,
        "gen_ok",
        {
            "_inputs": "__all__ = ['Args']\nclass Args: pass\n",
            "alpha": "__all__ = ['Alpha']\nclass Alpha: pass\n",
            "beta": "__all__ = ['Beta', 'get_beta']\nclass Beta: pass\ndef get_beta(): return 1\n",
        },
        init_tail="READY = True\n",
    )
    package = import_lazily("gen_ok")
    assert package.READY, "the rest of __init__ runs"
    assert "gen_ok._inputs" in sys.modules, "the shared modules load eagerly"
    assert "gen_ok.alpha" not in sys.modules
    assert "gen_ok.beta" not in sys.modules
    assert package.get_beta() == 1
    assert "gen_ok.beta" in sys.modules
    assert "gen_ok.alpha" not in sys.modules
    assert {"Alpha", "Beta", "Args", "get_beta"} <= set(dir(package))
    with pytest.raises(AttributeError, match="no attribute 'Gamma'"):
        package.Gamma  # noqa: B018 - the access is the test
    assert import_lazily("gen_ok") is package


def test_a_package_without_the_generated_shape_is_imported_the_ordinary_way(packages: Path) -> None:
    _package(packages, "gen_plain", {"alpha": "class Alpha: pass\n"})
    package = import_lazily("gen_plain")
    assert "gen_plain.alpha" in sys.modules
    assert package.Alpha.__name__ == "Alpha"


def test_a_failing_init_leaves_no_half_imported_package(packages: Path) -> None:
    _package(packages, "gen_broken", {"alpha": "__all__ = ['Alpha']\nclass Alpha: pass\n"}, init_tail="1 / 0\n")
    with pytest.raises(ZeroDivisionError):
        import_lazily("gen_broken")
    assert "gen_broken" not in sys.modules
