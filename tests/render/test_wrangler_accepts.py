"""The pinned wrangler accepts what render writes, offline.

The corpus goes through wrangler's own config reader (``unstable_readConfig``: parse, normalise and
validate, what every wrangler command starts with) for every environment of every file, before and
after rendering, in one Node process; the seed apps, rendered, go through `wrangler deploy --dry-run`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Literal

import pytest

from kvstack.catalog import load_catalog
from kvstack.local.install import node_packages_dir
from kvstack.local.wrangler import node_environment, wrangler_command
from kvstack.outputs import parse_outputs
from kvstack.render import KvBinding, WranglerSpec, plan_render, render_wrangler, write_plan
from tests.render.conftest import outputs_document
from tests.render.corpus import corpus_files, parse, sections, specs_for

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("wrangler")]

READ_CONFIG = Path(__file__).with_name("read_config.mjs")


def read_configs(cases: list[dict[str, Any]], work: Path) -> list[dict[str, Any]]:
    """wrangler's reading of each {config, env}, all in one Node process."""
    node, _ = wrangler_command()
    case_file = work / "cases.json"
    case_file.write_text(json.dumps(cases))
    result = subprocess.run(
        [node, str(READ_CONFIG), str(node_packages_dir() / "node_modules" / "wrangler"), str(case_file)],
        capture_output=True,
        text=True,
        env=node_environment(),
        cwd=work,
        timeout=300,
        check=False,
    )
    assert "@@RESULTS@@" in result.stdout, result.stderr[-3000:]
    results: list[dict[str, Any]] = json.loads(result.stdout.split("@@RESULTS@@", 1)[1])
    return results


def test_pinned_wrangler_reads_every_rendered_corpus_file_it_read_before(tmp_path: Path) -> None:
    """Each file rendered into all its sections ("all") and also into a new environment ("new-env")."""
    cases: list[dict[str, Any]] = []
    for item in (f for f in corpus_files() if f.parses):
        text = item.path.read_text(encoding="utf-8")
        data = parse(text, item.format)
        folder = tmp_path / item.path.stem
        folder.mkdir()
        original = folder / f"before{item.path.suffix}"
        original.write_text(text, encoding="utf-8")
        for section in sections(data):
            cases.append({"file": item.name, "label": "before", "config": original, "section": section, "want": None})
        for label in ("all", "new-env"):
            spec = dict(specs_for(item, data))[label]
            config = folder / f"{label}{item.path.suffix}"
            config.write_text(render_wrangler(text, spec, file=item.name).text, encoding="utf-8")
            for section, bindings in spec.sections.items():
                want = {b.binding: (b.id, b.preview_id) for b in bindings}
                cases.append({"file": item.name, "label": label, "config": config, "section": section, "want": want})
    requests = [{"config": str(c["config"]), "env": None if c["section"] == "top" else c["section"][4:]} for c in cases]
    results = read_configs(requests, tmp_path)
    assert len(results) == len(cases)
    before = {(c["file"], c["section"]): r["ok"] for c, r in zip(cases, results, strict=True) if c["label"] == "before"}
    assert sum(before.values()) >= 40, "wrangler should read most of the corpus"
    checked = 0
    for case, result in zip(cases, results, strict=True):
        # a new environment counts as read before when the file's top level was
        accepted = before.get((case["file"], case["section"]), before[(case["file"], "top")])
        if case["label"] == "before" or not accepted:
            continue
        where = f"{case['file']} {case['section']} ({case['label']})"
        assert result["ok"], f"{where}: wrangler read the original but not the render: {result['error']}"
        seen = {kv["binding"]: (kv.get("id"), kv.get("preview_id")) for kv in result["kv_namespaces"]}
        for binding, ids in case["want"].items():
            assert seen.get(binding) == ids, f"{where}: wrangler sees {binding} as {seen.get(binding)}"
        checked += 1
    assert checked >= 100


def test_pinned_wrangler_reads_the_minimal_files_render_creates(tmp_path: Path) -> None:
    bindings = [KvBinding("KV", "a" * 32, "b" * 32)]
    cases: list[dict[str, Any]] = []
    formats: tuple[Literal["toml", "jsonc", "json"], ...] = ("toml", "jsonc", "json")
    for fmt in formats:
        spec = WranglerSpec(format=fmt, sections={"top": bindings, "env.staging": bindings}, name="fresh")
        config = tmp_path / fmt / f"wrangler.{fmt}"
        config.parent.mkdir()
        config.write_text(render_wrangler(None, spec, file=config.name).text)
        cases += [{"config": str(config), "env": None}, {"config": str(config), "env": "staging"}]
    for case, result in zip(cases, read_configs(cases, tmp_path), strict=True):
        assert result["ok"], f"{case}: {result['error']}"
        assert result["kv_namespaces"] == [{"binding": "KV", "id": "a" * 32, "preview_id": "b" * 32}]


WORKER = 'export default { fetch() { return new Response("ok"); } };\n'
# The apps' sources are not part of kvstack: stub what their builds would produce.
SVELTEKIT = {".svelte-kit/cloudflare/_worker.js": WORKER, ".svelte-kit/cloudflare/.assetsignore": "_worker.js\n"}
SEED_DEPLOYS = [
    ("dev", "pickmyclass", None, {"src/index.ts": WORKER}),
    ("dev", "codex", "staging", SVELTEKIT),
    ("prod", "codex", "production", SVELTEKIT),
]


@pytest.mark.parametrize(
    ("stack", "app", "env", "entries"), SEED_DEPLOYS, ids=[f"{s}-{a}" for s, a, _, _ in SEED_DEPLOYS]
)
def test_rendered_seed_app_passes_wrangler_deploy_dry_run(
    project: Path, tmp_path: Path, stack: str, app: str, env: str | None, entries: dict[str, str]
) -> None:
    catalog = load_catalog(project, stack)
    outputs = parse_outputs(outputs_document(project, stack), "test")
    for plan in plan_render(catalog, outputs, app=app):
        write_plan(plan)
    folder = project / "apps" / app
    for name, content in entries.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)
    config = next(folder.glob("wrangler.*"))
    command = [*wrangler_command(), "deploy", "--dry-run", "--outdir", str(tmp_path / "out"), "--config", str(config)]
    if env:
        command += ["--env", env]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=node_environment({"WRANGLER_LOG": "log"}),
        cwd=folder,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for binding in catalog.app(app).bindings:
        ids = outputs.apps[app].bindings[binding.name]
        assert f"env.{binding.name} ({ids.id})" in result.stdout


def test_seed_pages_app_is_read_by_wrangler_after_render(project: Path, tmp_path: Path) -> None:
    catalog = load_catalog(project, "dev")
    outputs = parse_outputs(outputs_document(project, "dev"), "test")
    for plan in plan_render(catalog, outputs, app="dubai-app-front"):
        write_plan(plan)
    config = project / "apps" / "dubai-app-front" / "wrangler.toml"
    (result,) = read_configs([{"config": str(config), "env": None}], tmp_path)
    assert result["ok"], result["error"]
    chart = outputs.apps["dubai-app-front"].bindings["CHART_KV"]
    assert {"binding": "CHART_KV", "id": chart.id, "preview_id": chart.preview_id} in result["kv_namespaces"]
