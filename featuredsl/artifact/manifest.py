"""The manifest's JSON encodings of values that JSON cannot carry exactly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def encode_pool(pool: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """JSON-safe: floats as exact hex strings."""
    return {
        k: [float(v).hex() if k == "float" else v for v in values] for k, values in pool.items()
    }


def decode_pool(data: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    return {
        k: [float.fromhex(v) if k == "float" else v for v in values] for k, values in data.items()
    }
