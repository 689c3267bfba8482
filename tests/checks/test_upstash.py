"""The Upstash checks against `kvstack local up` with its real valkey-server: healthy passes, each defect caught.

The store holds what the energy app writes (through the REST API with the read/write token, as the app's
client does). Each defect is planted as a user's mistake would happen, through the same API, and reverted:
an unprefixed key, a `prod:` key of the wrong type, a hash field whose JSON breaks its schema, a registry
that is not an int array, a composite missing a fanned-out point, a read-only token that can write (the
local ACL user given every command), a smoke key left behind; and through the energy app's own source
(wrangler reloads it), an app that does not fan out, writes under its own prefix instead of the test one,
or never invalidates a username: the energy flow fails on each. Then the verdicts under seeded faults.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from checks.context import CheckOptions, build_context
from checks.resources import poll
from checks.runner import RunOutcome, run_checks
from kvstack import names
from kvstack.local import control
from kvstack.local.state import LocalState, local_outputs_file
from kvstack.upstash import UpstashRest

from .conftest import ROOT

pytestmark = [pytest.mark.runtime, pytest.mark.slow, pytest.mark.xdist_group("local-up-upstash")]

POINT = "source.solar.local/power"
CHECKS = {
    "keyspace": "test_store_keys_fit_the_keyspace",
    "isolation": "test_store_environments_are_isolated_by_prefix",
    "fan-out": "test_store_fan_out_reaches_every_subscribing_composite",
    "read-only": "test_store_read_only_token_cannot_write",
    "smoke": "test_store_smoke_flow_under_the_test_prefix_leaves_no_residue",
    "energy": "test_energy_flow_posts_a_reading_that_fans_out_and_leaves_no_residue",
}
READ_ONLY_RULES = ["resetchannels", "&*", "-@all", "+@read", "+ping", "+echo", "-keys"]


def point(value: float, measured: int = 1_700_000_000_000) -> str:
    return json.dumps(
        {"value": value, "measurementTimeMs": measured, "receivedTimeMs": measured + 5, "metricUnit": "W"}
    )


@dataclass
class Store:
    root: Path
    state: LocalState
    writer: UpstashRest

    def residue(self) -> list[str]:
        """Keys of the flows' test system ids under any prefix (the store is small: KEYS is fine here)."""
        return sorted(self.writer.command("KEYS", "*9999[89]*"))

    def run(self) -> RunOutcome:
        context = build_context(CheckOptions(stack="dev", root=self.root, local=True, only=("upstash",)))
        try:
            return run_checks(context, json_report=self.root / "report.json")
        finally:
            context.close()

    def verdicts(self) -> dict[str, str]:
        return {r.nodeid.split("::")[-1]: r.outcome for r in self.run().results.ordered()}

    def knobs(self, **knobs: object) -> None:
        url = self.state.upstash["rest_url"]
        token = Path(self.state.upstash["token_file"]).read_text().strip()
        httpx.post(
            f"{url}/__kvstack/knobs", json=knobs, headers={"Authorization": f"Bearer {token}"}
        ).raise_for_status()


def failures(outcome: RunOutcome) -> dict[str, str]:
    return {r.nodeid.split("::")[-1]: r.message or "" for r in outcome.results.ordered() if r.outcome != "passed"}


def seed_healthy(writer: UpstashRest) -> None:
    writer.pipeline(
        [
            ("SET", "dev:subscriptions:system:1", json.dumps([100, 101])),
            ("HSET", "dev:latest:system:1", POINT, point(3.5)),
            ("HSET", "dev:latest:system:100", POINT, point(3.5)),
            ("HSET", "dev:latest:system:101", POINT, point(3.5), "other.wind/power", point(1.0)),
            ("SET", "dev:username:ada", "user_2abcDEF", "EX", 3600),
            ("HSET", "prod:latest:system:5", POINT, point(7.0)),
            ("SET", "prod:subscriptions:system:5", "[]"),
        ]
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("upstash-checks") / "project"
    root.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "keyspaces", root / "keyspaces")
    state = control.up(root, "dev")
    try:
        token = Path(state.upstash["token_file"]).read_text().strip()
        with UpstashRest(state.upstash["rest_url"], token) as writer:
            seed_healthy(writer)
            yield Store(root, state, writer)
    finally:
        control.down(root)


def test_status_gives_the_upstash_url_and_token_files_never_the_tokens(store: Store) -> None:
    status = control.status(store.root)
    assert status is not None
    upstash = status["upstash"]
    assert upstash["rest_url"].startswith("http://127.0.0.1:")
    for name in ("token_file", "read_only_token_file"):
        path = Path(upstash[name])
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.read_text().strip() not in json.dumps(status)
    assert {p["role"] for p in status["processes"]} >= {"redis", "upstash"}


def test_the_local_outputs_give_the_store_app_its_local_url_never_the_clouds(store: Store) -> None:
    document = json.loads(local_outputs_file(store.root, "dev").read_text())[names.OUTPUTS_EXPORT]
    assert document["stores"]["energy-cache"]["app_url"] == store.state.apps["energy"]
    assert "https://energy-dev.workers.dev" in (store.root / "Pulumi.dev.yaml").read_text()


def test_a_healthy_store_passes_every_upstash_check(store: Store) -> None:
    outcome = store.run()
    assert failures(outcome) == {}
    names = [r.nodeid.split("::")[-1] for r in outcome.results.ordered()]
    # keyspace and fan-out per declared environment (dev, prod); the others once for the stack's store.
    assert sorted(names) == sorted(
        [
            f"{CHECKS['keyspace']}[energy-cache (dev:)]",
            f"{CHECKS['keyspace']}[energy-cache (prod:)]",
            f"{CHECKS['fan-out']}[energy-cache (dev:)]",
            f"{CHECKS['fan-out']}[energy-cache (prod:)]",
            f"{CHECKS['isolation']}[energy-cache (dev:)]",
            f"{CHECKS['read-only']}[energy-cache (dev:)]",
            f"{CHECKS['smoke']}[energy-cache (dev:)]",
            f"{CHECKS['energy']}[energy-cache (dev:)]",
        ]
    )
    assert outcome.exit_code == 0
    assert store.residue() == []


Plant = Callable[[Store], None]


def _acl(rules: list[str]) -> Plant:
    return lambda s: s.writer.command("ACL", "SETUSER", "upstash-ro", "reset", "on", *_password(s), "~*", *rules)


def _password(store: Store) -> list[str]:
    return [">" + Path(store.state.upstash["read_only_token_file"]).read_text().strip()]


DEFECTS: dict[str, tuple[Plant, Plant, str, str]] = {
    "unprefixed key": (
        lambda s: s.writer.command("HSET", "latest:system:7", POINT, point(1.0)),
        lambda s: s.writer.command("DEL", "latest:system:7"),
        f"{CHECKS['isolation']}[energy-cache (dev:)]",
        "unprefixed-key: key 'latest:system:7' (pattern latest-system)",
    ),
    "prod key of the wrong type": (
        lambda s: s.writer.command("SET", "prod:latest:system:6", point(2.0)),
        lambda s: s.writer.command("DEL", "prod:latest:system:6"),
        f"{CHECKS['keyspace']}[energy-cache (prod:)]",
        "key 'prod:latest:system:6' (pattern latest-system): expected a hash; found a string",
    ),
    "hash field json violating its schema": (
        lambda s: s.writer.command("HSET", "dev:latest:system:1", "meter.grid/energy", '{"value": "lots"}'),
        lambda s: s.writer.command("HDEL", "dev:latest:system:1", "meter.grid/energy"),
        f"{CHECKS['keyspace']}[energy-cache (dev:)]",
        "field 'meter.grid/energy'",
    ),
    "registry not an int array": (
        lambda s: s.writer.command("SET", "dev:subscriptions:system:2", '["100", "101"]'),
        lambda s: s.writer.command("DEL", "dev:subscriptions:system:2"),
        f"{CHECKS['keyspace']}[energy-cache (dev:)]",
        "key 'dev:subscriptions:system:2' (pattern subscriptions-system): value does not match the schema",
    ),
    "composite missing a fanned-out point": (
        lambda s: s.writer.command("HDEL", "dev:latest:system:101", POINT),
        lambda s: s.writer.command("HSET", "dev:latest:system:101", POINT, point(3.5)),
        f"{CHECKS['fan-out']}[energy-cache (dev:)]",
        f"composite 101 lacks point '{POINT}' of source 1",
    ),
    "read-only token that can write": (
        _acl(["+@all"]),
        _acl(READ_ONLY_RULES),
        f"{CHECKS['read-only']}[energy-cache (dev:)]",
        "succeeded with the read-only token",
    ),
    "smoke key left behind": (
        lambda s: s.writer.command("HSET", "test:latest:system:99999", POINT, point(1.0)),
        lambda s: s.writer.command("DEL", "test:latest:system:99999"),
        f"{CHECKS['smoke']}[energy-cache (dev:)]",
        "residue: test:latest:system:99999 was under test: before the flow ran",
    ),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_each_planted_defect_is_caught_by_its_check_and_only_by_it(store: Store, defect: str) -> None:
    plant, revert, check, message = DEFECTS[defect]
    plant(store)
    try:
        found = failures(store.run())
    finally:
        revert(store)
    assert list(found) == [check], found
    assert message in found[check]
    assert failures(store.run()) == {}


def _energy_app_changed(store: Store, old: str, new: str) -> contextlib.AbstractContextManager[None]:
    """The staged energy app's worker.js with ``old`` replaced by ``new`` (a user's bug), while it runs."""
    source = store.root / ".kvstack/local/tree/apps/energy/worker.js"
    health = f"{store.state.apps['energy']}/health"

    def runs(marker: str | None) -> bool:
        try:
            return bool(httpx.get(health, timeout=5).json().get("environment") == marker)
        except (httpx.HTTPError, ValueError):  # wrangler is reloading it
            return False

    @contextlib.contextmanager
    def changed() -> Iterator[None]:
        original = source.read_text()
        assert old in original
        marker = 'return health("energy", env, {'  # /health then says environment "planted": the change runs
        assert marker in original
        planted = 'return health("energy", { ...env, APP_ENV: "planted" }, {'
        source.write_text(original.replace(old, new).replace(marker, planted))
        try:
            poll("energy running its changed worker.js", lambda: runs("planted"), bool, window=90)
            yield
        finally:
            source.write_text(original)
            poll("energy running its own worker.js again", lambda: runs(None), bool, window=90)

    return changed()


APP_DEFECTS = {
    "app not fanning out": (
        "const keys = [id, ...composites]",
        "const keys = [id]",
        "read back the composite (the fan-out)",
    ),
    "app writing under its own prefix, not the test one": (
        "return { namespace: asked, test: true };",
        "return { namespace: env.KV_NAMESPACE, test: true };",
        "residue: dev:latest:system:99999 — the app wrote a key of the flow outside test:",
    ),
    "app never invalidating a username": (
        "const deleted = await redis.del(key);",
        "const deleted = 1;",
        "is still in the store",
    ),
}


@pytest.mark.parametrize("defect", list(APP_DEFECTS))
def test_each_planted_app_defect_fails_the_energy_flow_and_leaves_no_residue(store: Store, defect: str) -> None:
    old, new, message = APP_DEFECTS[defect]
    with _energy_app_changed(store, old, new):
        found = failures(store.run())
    check = f"{CHECKS['energy']}[energy-cache (dev:)]"
    assert list(found) == [check], found
    assert message in found[check]
    assert store.residue() == []


def _real_target_check(store: Store, folder: Path, app_url: str | None) -> tuple[int, dict[str, Any]]:
    """`kvstack check --only upstash` on the real target, in a copy of the project whose stack declares ``app_url``.

    Its ``--outputs`` file is what `pulumi stack output --json --show-secrets` would print after `pulumi up`: the
    program's document (`kvstack plan`) and the store's credentials (those of the local Upstash).
    """
    root = folder / "project"
    root.mkdir(parents=True)
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(store.root / name, root / name)
    shutil.copytree(store.root / "keyspaces", root / "keyspaces")
    stack = yaml.safe_load((store.root / "Pulumi.dev.yaml").read_text())
    stack["config"]["kvstack:stores"] = {"energy-cache": {"app_url": app_url} if app_url else {}}
    (root / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))

    def kvstack(*args: str) -> subprocess.CompletedProcess[str]:
        environment = {
            "CLOUDFLARE_API_TOKEN": Path(store.state.token_file).read_text().strip(),
            "KVSTACK_API_URL": f"{store.state.api_url}/client/v4",
        }
        command = [sys.executable, "-m", "kvstack", *args, "--stack", "dev", "--root", str(root)]
        return subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=300, env={**os.environ, **environment}
        )

    planned = kvstack("plan", "--json")
    assert planned.returncode == 0, planned.stderr
    printed = {names.OUTPUTS_EXPORT: json.loads(planned.stdout)[names.OUTPUTS_EXPORT]}
    local = json.loads(local_outputs_file(store.root, "dev").read_text())
    printed[names.STORE_SECRETS_EXPORT] = local[names.STORE_SECRETS_EXPORT]
    (folder / "stack-output.json").write_text(json.dumps(printed))
    report = folder / "report.json"
    done = kvstack("check", "--only", "upstash", "--outputs", str(folder / "stack-output.json"), "--json", str(report))
    assert "target: real Cloudflare (stack dev)" in done.stderr, done.stderr
    return done.returncode, json.loads(report.read_text())


def test_on_the_real_target_the_energy_flow_runs_against_the_app_url_the_stack_declares(
    store: Store, tmp_path: Path
) -> None:
    energy = f"{CHECKS['energy']}[energy-cache (dev:)]"
    code, report = _real_target_check(store, tmp_path / "declared", store.state.apps["energy"])
    outcomes = {c["id"].split("::")[-1]: c["outcome"] for c in report["checks"]}
    assert outcomes[energy] == "passed", report
    assert code == 0, report
    assert store.residue() == []
    # Without it the flow has no app to drive: a skip that fails the run and names what to declare.
    code, report = _real_target_check(store, tmp_path / "undeclared", None)
    (skip,) = report["skips"]
    assert "no URL for its app energy in the outputs (`kvstack:stores.energy-cache.app_url`" in skip["reason"]
    assert code == 1


def test_verdicts_are_identical_under_seeded_faults(store: Store) -> None:
    planted = ("composite missing a fanned-out point", "hash field json violating its schema")
    for defect in planted:
        DEFECTS[defect][0](store)
    try:
        expected = store.verdicts()
        assert sorted(v for v in expected.values() if v != "passed") == ["failed", "failed"]
        for seed in range(1, 6):
            store.knobs(faults="429=0.1,500=0.05,drop=0.05", seed=seed)
            try:
                assert store.verdicts() == expected, f"seed {seed}"
            finally:
                store.knobs(faults="")
    finally:
        for defect in planted:
            DEFECTS[defect][1](store)
