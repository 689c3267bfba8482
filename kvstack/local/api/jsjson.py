"""JSON text as JavaScript's ``JSON.stringify`` writes it, for limits measured on that text.

Cloudflare (and Miniflare, which refuses what the local API would otherwise accept) measures KV metadata as
``JSON.stringify(metadata)``. Python's ``json.dumps`` differs in numbers only: ``1e+20`` against
``100000000000000000000``, ``1e-05`` against ``0.00001``, ``1.0`` against ``1``, and in the order of an object's
integer-like keys. No maintained library writes
ECMAScript's Number::toString, so it is here, from the shortest round-trip digits Python's ``repr`` gives.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

__all__ = ["js_number", "stringify"]

MAX_SAFE_INTEGER = 2**53


def js_number(number: float) -> str:
    """ECMAScript's Number::toString of ``number`` (finite)."""
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(number))).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    k, n = len(digits), exponent + len(digits)  # n: where the decimal point goes, counted from the first digit
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        mantissa = digits[0] + (f".{digits[1:]}" if k > 1 else "")
        text = f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return sign + text


def _is_array_index(key: str) -> bool:
    return key.isdecimal() and key.isascii() and (key == "0" or not key.startswith("0")) and int(key) < 2**32 - 1


def stringify(value: Any) -> str:
    """``JSON.stringify(value)`` for a value parsed from JSON (NaN and infinities refused: JSON has none)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        # JavaScript parses an integer into a double: beyond 2**53 it is that double's text.
        return str(value) if abs(value) < MAX_SAFE_INTEGER else js_number(float(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not JSON")
        return js_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(stringify(item) for item in value) + "]"
    if isinstance(value, dict):
        # JavaScript lists an object's array-index keys first, ascending, then the others in insertion order.
        keys = sorted((k for k in value if _is_array_index(k)), key=int) + [k for k in value if not _is_array_index(k)]
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{stringify(value[k])}" for k in keys) + "}"
    raise TypeError(f"{type(value).__name__} is not JSON")
