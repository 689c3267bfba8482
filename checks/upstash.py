"""Upstash stores: keys fit the keyspace, environments stay apart, fan-out holds, the read-only token is
read-only, a smoke flow under the test prefix leaves nothing behind, and the energy flow drives the
store's app end to end (``flows: [energy]``; checks/resources/energy.py).

Every read uses the read-only token: SCAN pages with a large COUNT and pipelines (never KEYS, never one
round trip per key). The failure messages name the keys; the JSON report holds the verdicts.
"""

from __future__ import annotations

import pytest

from checks.resources.energy import EnergyFlow
from checks.resources.store import SMOKE_COMPOSITE, SMOKE_SOURCE, StoreResource

# Findings shown in one failure message.
SHOWN = 20


def _listed(lines: list[str]) -> str:
    more = f"\n  … and {len(lines) - SHOWN} more" if len(lines) > SHOWN else ""
    return "\n  " + "\n  ".join(lines[:SHOWN]) + more


def test_store_keys_fit_the_keyspace(store_prefix: StoreResource) -> None:
    store = store_prefix
    scan = store.scan
    if scan.findings:
        kinds = sorted({f.kind for f in scan.findings})
        raise AssertionError(
            f"store {store.label}, keyspace {store.keyspace.file}: expected every key under {store.prefix}: "
            f"to fit a pattern, its Redis type, TTL and schema; found {len(scan.findings)} finding(s) "
            f"({', '.join(kinds)}) "
            f"in {scan.keys} keys ({scan.scan_pages} SCAN pages, {scan.pipelines} pipelines):"
            + _listed([str(f) for f in scan.findings])
        )


def test_store_environments_are_isolated_by_prefix(store: StoreResource) -> None:
    findings = store.isolation_findings()
    if findings:
        raise AssertionError(
            f"store {store.label}: expected every key under a declared prefix ({', '.join(store.declared_prefixes)}); "
            f"found {len(findings)} key(s) outside them:" + _listed([f"{f.kind}: {f}" for f in findings])
        )


def test_store_fan_out_reaches_every_subscribing_composite(store_prefix: StoreResource) -> None:
    store = store_prefix
    gaps = store.fan_out_gaps()
    if gaps:
        raise AssertionError(
            f"store {store.label}: expected every composite in a subscription registry to hold the latest point of "
            f"its sources; found {len(gaps)} gap(s):" + _listed(gaps)
        )


def test_store_read_only_token_cannot_write(store: StoreResource) -> None:
    wrote = store.write_with_read_only_token()
    assert wrote is None, (
        f"store {store.label}: expected the read-only token (KV_REST_API_READ_ONLY_TOKEN) to be refused every write; "
        f"found {wrote} — it is a read/write token, rotate it and set the read-only one"
    )


def test_store_smoke_flow_under_the_test_prefix_leaves_no_residue(store: StoreResource) -> None:
    if store.store.test_prefix is None:
        raise AssertionError(
            f"store {store.label}: expected a `test_prefix` to run the smoke flow under; found none in Pulumi.yaml"
        )
    before = store.residue()
    problems = store.smoke_flow()
    problems += [f"residue: {key} was under {store.store.test_prefix}: before the flow ran" for key in before]
    if problems:
        raise AssertionError(
            f"store {store.label}: expected the smoke flow under {store.store.test_prefix}: to write, fan out, read "
            f"back and delete with 0 residue; found:" + _listed(problems)
        )


def test_energy_flow_posts_a_reading_that_fans_out_and_leaves_no_residue(energy_app: StoreResource) -> None:
    store = energy_app
    if store.app_url is None:
        pytest.skip(
            f"store {store.label}: no URL for its app {store.app} in the outputs "
            f"(`kvstack:stores.{store.store.name}.app_url`; locally, `kvstack local up` runs it)"
        )
    if store.store.test_prefix is None:
        raise AssertionError(
            f"store {store.label}: expected a `test_prefix` to run the energy flow under; found none in Pulumi.yaml"
        )
    problems = EnergyFlow(store, store.app_url).run()
    if problems:
        raise AssertionError(
            f"energy flow of {store.app} ({store.app_url}) under {store.store.test_prefix}: with systems "
            f"{SMOKE_SOURCE} → {SMOKE_COMPOSITE}: expected the reading stored, fanned out, read back and deleted "
            "with 0 residue; found:" + _listed(problems)
        )
