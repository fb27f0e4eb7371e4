"""Regression files: a failing case saved as JSON and replayed by the test suite."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.compiler.types import DType
from featuredsl.parity.fuzz.cases import Feed, FuzzCase, to_array
from featuredsl.parity.fuzz.generator import Column


def encode_feed(feed: Feed) -> dict[str, dict[str, Any]]:
    """JSON-safe and exact: floats as hex (NaN, +-inf and -0.0 survive)."""
    out: dict[str, dict[str, Any]] = {}
    for name, values in feed.items():
        kind = values.dtype.kind
        if kind == "f":
            out[name] = {"dtype": "float64", "values": [float(v).hex() for v in values.tolist()]}
        elif kind == "b":
            out[name] = {"dtype": "bool", "values": values.tolist()}
        elif kind in "iu":
            out[name] = {"dtype": "int64", "values": values.tolist()}
        else:
            out[name] = {"dtype": "str", "values": [str(v) for v in values.tolist()]}
    return out


def decode_feed(data: Mapping[str, Mapping[str, Any]]) -> Feed:
    feed: Feed = {}
    for name, column in data.items():
        values = column["values"]
        dtype = column["dtype"]
        if dtype == "float64":
            feed[name] = np.array([float.fromhex(v) for v in values], dtype=np.float64)
        elif dtype == "bool":
            feed[name] = np.array(values, dtype=np.bool_)
        elif dtype == "int64":
            feed[name] = np.array(values, dtype=np.int64)
        else:
            feed[name] = to_array(DType.STRING, values)
    return feed


def case_to_json(case: FuzzCase, error: str = "") -> dict[str, Any]:
    return {
        "spec": case.spec,
        "columns": [[c.name, c.dtype.value, c.nullable] for c in case.columns],
        "train": encode_feed(case.train),
        "test": encode_feed(case.test),
        "error": error,
    }


def case_from_json(data: Mapping[str, Any]) -> FuzzCase:
    columns = tuple(
        Column(name, DType(dtype), bool(nullable)) for name, dtype, nullable in data["columns"]
    )
    return FuzzCase(data["spec"], columns, decode_feed(data["train"]), decode_feed(data["test"]))


def save_regression(case: FuzzCase, directory: str | Path, error: BaseException | str = "") -> Path:
    """Write a failing case as <hash>.json (the hash covers spec and data, so reruns overwrite)."""
    message = str(error).splitlines()[0] if str(error) else ""
    payload = case_to_json(
        case, f"{type(error).__name__}: {message}" if isinstance(error, BaseException) else message
    )
    key = json.dumps(
        {k: payload[k] for k in ("spec", "train", "test")}, sort_keys=True, ensure_ascii=True
    )
    path = Path(directory) / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():  # keep notes added by hand (e.g. an xfail reason)
        payload = {**json.loads(path.read_text("utf-8")), **payload, "error": payload["error"]}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_regression(path: str | Path) -> tuple[FuzzCase, dict[str, Any]]:
    data = json.loads(Path(path).read_text("utf-8"))
    return case_from_json(data), data
