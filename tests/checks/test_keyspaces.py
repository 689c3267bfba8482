"""Keyspace scans read what --sample and --deep say, counted exactly.

On the fake Cloudflare because exact counts need a namespace holding exactly the keys the test wrote, listed
at once: the local stack's namespaces also hold what its apps wrote, and its listings show a write only
after the consistency delay. The planted keyspace defects (bad values, missing or too long TTLs, unknown
keys, bad placeholders, a deleted namespace) run against the real local Cloudflare in test_local.py.
"""

from __future__ import annotations

import json
import time

from .conftest import World


def test_sample_and_deep_read_what_they_say(world: World) -> None:
    state = world.ids("pickmyclass", "KV")["id"]
    for n in range(250):
        value = json.dumps({"class_nbr": n, "status": "open", "seats_available": 1, "fetched_at": "t"})
        world.fake.put(state, f"class_state:{1000 + n}", value, time.time() + 600)
    world.run("keyspaces", sample=10, apps=("pickmyclass",))
    [scan] = [s for s in world.last_report["keyspaces"] if not s["preview"]]
    assert scan["keys"] == 252
    assert scan["patterns"]["class-state"] == {"keys": 251, "values_read": 10, "smoke": 0}
    world.run("keyspaces", deep=True, apps=("pickmyclass",))
    [scan] = [s for s in world.last_report["keyspaces"] if not s["preview"]]
    assert scan["values_read"] == 252
    assert world.last_report["spent"]["kv_reads"] == 252
    assert world.last_report["spent"]["kv_lists"] == 2, "one list page per namespace (production and preview)"
