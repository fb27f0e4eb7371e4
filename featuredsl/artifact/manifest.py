"""The manifest's JSON: its layout, and encodings of values that JSON cannot carry exactly."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

LONG_LIST = 1_000  # a list of more scalars than this is written on one line
SCALARS = {str, int, float, bool, type(None)}


def manifest_text(manifest: Any, indent: str = "") -> str:
    """`json.dumps(manifest, indent=2, ensure_ascii=False)`, except that a long list of scalars
    (a fitted vocabulary) is written on one line: the same JSON, readable, and written by the
    json module's C encoder (the indenting one is pure Python: 5 s for a million strings)."""
    inner = indent + "  "
    if isinstance(manifest, Mapping) and manifest:
        items = [
            f"{inner}{_scalar(str(k))}: {manifest_text(v, inner)}" for k, v in manifest.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(manifest, (list, tuple)) and manifest:
        if len(manifest) > LONG_LIST and set(map(type, manifest)) <= SCALARS:
            return _scalar(manifest)
        items = [inner + manifest_text(v, inner) for v in manifest]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    return _scalar(manifest)


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def encode_pool(pool: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """JSON-safe: floats as exact hex strings."""
    return {
        k: [float(v).hex() if k == "float" else v for v in values] for k, values in pool.items()
    }


def decode_pool(data: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    return {
        k: [float.fromhex(v) if k == "float" else v for v in values] for k, values in data.items()
    }
