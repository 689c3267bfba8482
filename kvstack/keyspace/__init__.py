"""Key schemas of KV namespaces: patterns with typed placeholders, value schemas, TTL policy, scanning.

The engine of the four keyspace homes: the data is the project's ``keyspaces/<name>.yaml`` (validated
by ``kvstack/schemas/keyspace.schema.json``), loaded and applied here; the check suite's resource
(``checks/resources/keyspace.py``) scans a namespace with it, and ``checks/keyspaces.py`` holds the
checks that assert on the scan.

load_keyspace(root, "codex-session").match("session:abc")   → KeyMatch
scan_namespace(source, namespace_id, keyspace, sample=100)    → ScanReport with Findings
"""

from kvstack.keyspace.findings import FINDING_KINDS, Finding, FindingKind
from kvstack.keyspace.limits import BULK_GET_MAX_KEYS, LIST_KEYS_MAX, check_key_limits
from kvstack.keyspace.model import (
    KEYSPACE_DIR,
    KeyMatch,
    Keyspace,
    Pattern,
    TtlPolicy,
    ValueSpec,
    available_keyspaces,
    load_keyspace,
    load_keyspaces,
)
from kvstack.keyspace.pattern import SMOKE_MARKER, KeyPattern, is_smoke_id, smoke_id
from kvstack.keyspace.scan import DEFAULT_SAMPLE, KeySource, ListedKey, PatternStats, ScanReport, scan_namespace
from kvstack.keyspace.ttl import check_expiration, check_fresh_ttl
from kvstack.keyspace.values import check_value, json_pointer

__all__ = [
    "BULK_GET_MAX_KEYS",
    "DEFAULT_SAMPLE",
    "FINDING_KINDS",
    "KEYSPACE_DIR",
    "LIST_KEYS_MAX",
    "SMOKE_MARKER",
    "Finding",
    "FindingKind",
    "KeyMatch",
    "KeyPattern",
    "KeySource",
    "Keyspace",
    "ListedKey",
    "Pattern",
    "PatternStats",
    "ScanReport",
    "TtlPolicy",
    "ValueSpec",
    "available_keyspaces",
    "check_expiration",
    "check_fresh_ttl",
    "check_key_limits",
    "check_value",
    "is_smoke_id",
    "json_pointer",
    "load_keyspace",
    "load_keyspaces",
    "scan_namespace",
    "smoke_id",
]
