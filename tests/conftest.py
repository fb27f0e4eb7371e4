"""Shared fixtures: quiet onnxruntime sessions, random feeds for a spec's inputs."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="Regenerate golden files instead of checking."
    )


def quiet_session(model_bytes: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


STRINGS = np.array(
    ["DE", "FR", "US", "de", " DE ", "", "Ünïcode", "日本", "a b", "x" * 50], dtype=object
)


def random_feed(inputs, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A training-like feed for any input block: typical values, nulls in nullable columns."""
    rng = np.random.default_rng(seed)
    feed: dict[str, np.ndarray] = {}
    for column in inputs:
        dtype = str(column.dtype)
        if dtype == "float":
            values = rng.normal(10, 5, rows).round(3)
        elif dtype == "int":
            values = rng.integers(-20, 100, rows)
        elif dtype == "bool":
            values = rng.random(rows) < 0.5
        elif dtype == "string":
            values = STRINGS[rng.integers(0, len(STRINGS), rows)]
        else:
            values = rng.integers(-(10**15), 3 * 10**15, rows)
        if column.nullable:
            null = rng.random(rows) < 0.15
            if dtype == "float":
                values = np.where(null, np.nan, values)
            else:
                feed[f"{column.name}.is_null"] = null
        feed[column.name] = values
    return feed
