"""kvstack/local/api/jsjson.py against JavaScript itself: the Node that runs wrangler stringifies the same values."""

from __future__ import annotations

import json
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from kvstack.local.api.jsjson import stringify
from kvstack.local.wrangler import node_environment

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _node_stringify(values: list[object]) -> list[str]:
    """Each value parsed and stringified by Node (the JSON text sent is Python's, which Node parses exactly)."""
    script = (
        "const vs = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(vs.map(v => JSON.stringify(v))))"
    )
    done = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        env=node_environment(),
        check=True,
    )
    answer: list[str] = json.loads(done.stdout)
    return answer


@settings(max_examples=8, deadline=None)
@given(st.lists(JSON_VALUES, min_size=50, max_size=100))
def test_stringify_writes_what_javascript_writes(values: list[object]) -> None:
    values = [v for v in values if _encodable(v)]
    assert [stringify(value) for value in values] == _node_stringify(values)


def _encodable(value: object) -> bool:
    """Text Python can send as UTF-8 (lone surrogates are refused by the API before any measurement)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def test_the_numbers_python_and_javascript_write_differently() -> None:
    numbers = [1e20, 1e21, 1e-5, 1e-6, 1e-7, 1.0, 100.0, 1e16, 2**64, -2.5e-9, 5e-324, 1.7976931348623157e308]
    assert [stringify(n) for n in numbers] == _node_stringify(list(numbers))
    assert sys.float_info.max == 1.7976931348623157e308
