"""JSON that every reader can parse: NaN and infinities (an interval that could not be measured, a rating with no
bound) become null. Python's json writes them as NaN / Infinity, which PostgreSQL's JSON, browsers and most tools
refuse. Used by the store's JSON columns and by the report files the training entry points write."""

from __future__ import annotations

import json
import math
from typing import Any


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float replaced by None (dicts, lists and tuples walked)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def dumps(value: Any, **options: Any) -> str:
    """json.dumps with non-finite floats as null; a payload without any (the usual case) is not walked twice."""
    try:
        return json.dumps(value, allow_nan=False, **options)
    except ValueError:
        return json.dumps(json_safe(value), allow_nan=False, **options)
