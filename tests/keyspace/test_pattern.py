"""Key patterns: literal text first, then each typed placeholder parsed; smoke ids fit every type."""

from __future__ import annotations

import re
import signal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstack.keyspace import KeyPattern, is_smoke_id, smoke_id
from kvstack.keyspace.pattern import PLACEHOLDER_TYPES


@pytest.mark.parametrize(
    ("pattern", "key", "values"),
    [
        ("charts:session:{sessionId}", "charts:session:abc-123", {"sessionId": "abc-123"}),
        ("class_state:{class_nbr:int}", "class_state:40123", {"class_nbr": "40123"}),
        ("rl:login:{ip:ip}", "rl:login:203.0.113.9", {"ip": "203.0.113.9"}),
        ("rl:login:{ip:ip}", "rl:login:2001:db8::1", {"ip": "2001:db8::1"}),
        ("api:{endpoint:slug}:{hash:hex}", "api:chat-models:9f86d081", {"endpoint": "chat-models", "hash": "9f86d081"}),
        ("cache:{feature:slug}:{key:any}", "cache:search:q=a:b", {"feature": "search", "key": "q=a:b"}),
        ("webhook:messages", "webhook:messages", {}),
    ],
)
def test_key_fitting_pattern_yields_placeholder_values(pattern: str, key: str, values: dict[str, str]) -> None:
    match = KeyPattern(pattern).match(key)
    assert match is not None
    assert match.ok, match.problems()
    assert dict(match.values) == values


@pytest.mark.parametrize(
    ("pattern", "key", "problem"),
    [
        ("class_state:{class_nbr:int}", "class_state:12a", "placeholder {class_nbr:int} is '12a', not a non-negative"),
        ("rl:login:{ip:ip}", "rl:login:300.1.1.1", "placeholder {ip:ip} is '300.1.1.1', not an IPv4 or IPv6"),
        ("models:{provider:slug}", "models:Open AI", "placeholder {provider:slug} is 'Open AI', not lowercase"),
        ("session:{token:token}", "session:a+b/c=", "placeholder {token:token} is 'a+b/c=', not URL-safe base64"),
        ("x:{id:uuid}", "x:1234", "placeholder {id:uuid} is '1234', not a UUID"),
        ("h:{h:hex}", "h:xyz", "placeholder {h:hex} is 'xyz', not hexadecimal"),
    ],
)
def test_placeholder_that_does_not_parse_is_named_with_its_text(pattern: str, key: str, problem: str) -> None:
    match = KeyPattern(pattern).match(key)
    assert match is not None, "the literal text fits, so the key belongs to the pattern"
    assert not match.ok
    assert match.problems()[0].startswith(problem), match.problems()


@pytest.mark.parametrize(
    ("pattern", "key"),
    [
        ("charts:session:{sessionId}", "chart:session:x"),
        ("charts:session:{sessionId}", "charts:session:"),
        ("charts:session:{sessionId}", "charts:session:a:b"),
        ("class_state:{class_nbr:int}", "prefix:class_state:1"),
        ("webhook:messages", "webhook:messages2"),
    ],
)
def test_key_outside_the_literal_text_does_not_match(pattern: str, key: str) -> None:
    assert KeyPattern(pattern).match(key) is None


@pytest.mark.parametrize("type_", sorted(PLACEHOLDER_TYPES))
def test_every_placeholder_type_holds_a_smoke_id(type_: str) -> None:
    pattern = KeyPattern(f"k:{{v:{type_}}}")
    match = pattern.match(pattern.example(v=smoke_id("run1-7")))
    assert match is not None
    assert match.ok
    assert match.smoke


def test_smoke_ids_need_the_marker_and_safe_characters() -> None:
    assert is_smoke_id("kvstack-smoke")
    assert is_smoke_id("kvstack-smoke-a1_b.c-2")
    assert not is_smoke_id("kvstack-smokey")
    assert not is_smoke_id("x-kvstack-smoke-1")
    with pytest.raises(ValueError, match="cannot follow"):
        smoke_id("has space")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a:{x:float}", "unknown placeholder type 'float'"),
        ("a:{x}:{x}", "appears twice"),
        ("a:{x", "stray brace"),
        ("a:}x{", "stray brace"),
    ],
)
def test_malformed_pattern_is_refused(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        KeyPattern(text)


def _regex_oracle(pattern: KeyPattern, key: str) -> list[str] | None:
    """What the backtracking regex the matcher replaced would split ``key`` into (fine on short keys)."""
    regex = "".join(
        re.escape(part) if isinstance(part, str) else ("(.+)" if PLACEHOLDER_TYPES[part.type].colon else "([^:]+)")
        for part in pattern._parts
    )
    found = re.fullmatch(regex, key, re.DOTALL)
    return list(found.groups()) if found else None


_PARTS = st.lists(
    st.one_of(
        st.sampled_from([":", "a", "a:", ":b:", "ab"]),
        st.sampled_from(["{x}", "{x:any}", "{x:ip}", "{x:int}"]),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(parts=_PARTS, key=st.text(alphabet="ab:1\n", max_size=12))
def test_matching_splits_a_key_exactly_as_a_greedy_regex_would(parts: list[str], key: str) -> None:
    numbered = iter(range(100))
    text = "".join(part.replace("{x", f"{{x{next(numbered)}") for part in parts)
    pattern = KeyPattern(text)
    found = pattern.match(key)
    expected = _regex_oracle(pattern, key)
    assert (list(found.values.values()) if found else None) == expected


def test_adjacent_wildcards_match_a_long_key_in_linear_time() -> None:
    """The pattern took n⁵ steps (15 s on 200 bytes) with a backtracking regex; a generous bound here."""
    pattern = KeyPattern("{a:any}{b:any}{c:any}{d:any}{e:any}!")

    def too_slow(signum: int, frame: object) -> None:
        raise TimeoutError("matching a 512-byte key took more than 20 s: not linear")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(20)
    try:
        assert pattern.match("x" * 512) is None
        found = pattern.match("x" * 511 + "!")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert found is not None
    assert "".join(found.values.values()) == "x" * 511
