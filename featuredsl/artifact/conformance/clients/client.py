#!/usr/bin/env python3
"""featuredsl conformance client for Python: onnxruntime + numpy, nothing else.

Loads a build's features.onnx, builds one input per declared column (shape [N]) plus the null
masks from rows.json, runs the graph, and compares the `features` output bit for bit with
expected.json (NaN equals NaN; -0.0 differs from 0.0). Prints a verdict; exits 1 on any
difference, 0 when every cell agrees.

    python client.py                                # the kit next to this file
    python client.py --optimization disabled --threads 4
    python client.py --rows rows.json --output out.json    # run only: write every output

Defaults: rows.json and expected.json next to this file; the graph is ../features.onnx (the
kit inside a build directory) or ./features.onnx (a kit copied out with its graph).
Encoding (docs/serving.md): floats are JSON numbers, or "NaN", "Infinity", "-Infinity",
"-0.0"; int64 and timestamps (microseconds since the epoch, UTC) are decimal strings; null is
null and becomes NaN (float) or a placeholder plus True in the column's mask input.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

FLOAT_TAGS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0.0": -0.0}
PLACEHOLDERS: dict[str, Any] = {"int": 0, "timestamp": 0, "bool": False, "string": ""}
NUMPY_DTYPES: dict[str, Any] = {
    "float": np.float64,
    "int": np.int64,
    "timestamp": np.int64,
    "bool": np.bool_,
    "string": object,
}
LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


class KitError(Exception):
    """A kit file that cannot be read or does not follow the encoding."""


# -- the encoding


def read_float(value: Any, where: str) -> float:
    if isinstance(value, str) and value in FLOAT_TAGS:
        return FLOAT_TAGS[value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise KitError(f"{where}: {value!r} is not a float (a number, or {sorted(FLOAT_TAGS)})")


def read_cell(value: Any, dtype: str, where: str) -> Any:
    if dtype == "float":
        return read_float(value, where)
    if dtype in ("int", "timestamp"):
        if not isinstance(value, str):
            raise KitError(f"{where}: {value!r} is not an int64 as a decimal string")
        return int(value)
    if dtype == "bool" and isinstance(value, bool):
        return value
    if dtype == "string" and isinstance(value, str):
        # featuredsl's text rule: Unicode NFC only (canonically equal text has one spelling).
        if not unicodedata.is_normalized("NFC", value):
            raise KitError(f"{where}: {value!a} is not in Unicode NFC form; normalize it")
        return value
    raise KitError(f"{where}: {value!r} is not a {dtype}")


def write_value(value: Any) -> Any:
    """One output value in the encoding."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return "-0.0" if value == 0.0 and math.copysign(1.0, value) < 0 else value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    return str(value)


def bits(value: float) -> str:
    return "0x" + struct.pack(">d", value).hex()


def same(a: float, b: float) -> bool:
    """Bit-identical, except that every NaN equals every NaN."""
    return (math.isnan(a) and math.isnan(b)) or bits(a) == bits(b)


def show(value: float) -> str:
    return f"{value!r} ({bits(value)})"


# -- feeds, session, comparison


def build_feeds(document: dict[str, Any]) -> dict[str, np.ndarray]:
    """One [N] array per declared column, plus a bool mask per nullable non-float column."""
    rows = document["rows"]
    feeds: dict[str, np.ndarray] = {}
    for column in document["inputs"]:
        name = column["name"]
        cells = [(row, f"rows.json row {index}, column {name!r}") for index, row in enumerate(rows)]
        read_column(feeds, column, name, name, cells)
    for source in document.get("events", []):
        feeds.update(event_feeds(source, rows))
    return feeds


def event_feeds(source: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """An event source's inputs (window aggregates): offsets [N + 1] (row i's events are
    offsets[i]:offsets[i + 1]) and one [E] array per event column (plus masks), from each
    row's list of events under the source's name."""
    name = source["name"]
    offsets = [0]
    events: list[tuple[int, int, dict[str, Any]]] = []
    for index, row in enumerate(rows):
        listed = row.get(name)
        if not isinstance(listed, list):
            raise KitError(f"rows.json row {index}: {name!r} must be the list of its events")
        events.extend((index, position, event) for position, event in enumerate(listed))
        offsets.append(len(events))
    feeds = {source["offsets"]: np.array(offsets, dtype=np.int64)}
    for column in source["columns"]:
        field = column["name"]
        cells = [
            (event, f"rows.json row {index}, event {position} of {name!r}, column {field!r}")
            for index, position, event in events
        ]
        read_column(feeds, column, field, column["input"], cells)
    return feeds


def read_column(
    feeds: dict[str, np.ndarray],
    column: dict[str, Any],
    field: str,
    name: str,
    cells: list[tuple[dict[str, Any], str]],
) -> None:
    """Read `field` of every (object, where) of `cells` into feeds[name] (and, for a nullable
    non-float column, its mask `column["mask"]`): null becomes NaN or a placeholder."""
    dtype, nullable = column["dtype"], column["nullable"]
    values, nulls = [], []
    for item, where in cells:
        if field not in item:
            raise KitError(f"{where}: missing")
        cell = item[field]
        nulls.append(cell is None)
        if cell is None and not nullable:
            raise KitError(f"{where}: null in a column that is not nullable")
        if cell is None:
            values.append(math.nan if dtype == "float" else PLACEHOLDERS[dtype])
        else:
            values.append(read_cell(cell, dtype, where))
    feeds[name] = np.array(values, dtype=NUMPY_DTYPES[dtype])
    if column.get("mask") is not None:
        feeds[column["mask"]] = np.array(nulls, dtype=np.bool_)


def open_session(model: Path, optimization: str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = LEVELS[optimization]
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def run(session: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    wanted = [i.name for i in session.get_inputs()]
    missing = [name for name in wanted if name not in feeds]
    if missing:
        raise KitError(f"the graph needs input(s) {missing} that rows.json does not declare")
    names = [o.name for o in session.get_outputs()]
    outputs = session.run(names, {name: feeds[name] for name in wanted})
    return dict(zip(names, (np.asarray(o) for o in outputs)))  # noqa: B905 (Python 3.8+)


def compare(expected: dict[str, Any], actual: np.ndarray, limit: int) -> dict[str, Any]:
    names = expected["feature_names"]
    rows = expected["rows"]
    if actual.shape != (len(rows), len(names)):
        raise KitError(
            f"output {expected['output']!r} has shape {list(actual.shape)}; expected.json has "
            f"{len(rows)} rows of {len(names)} features"
        )
    differing = 0
    first: list[dict[str, Any]] = []
    per_feature: dict[str, int] = {}
    for r, row in enumerate(rows):
        for f, cell in enumerate(row):
            want = read_float(cell, f"expected.json row {r}")
            got = float(actual[r, f])
            if same(want, got):
                continue
            differing += 1
            per_feature[names[f]] = per_feature.get(names[f], 0) + 1
            if len(first) < limit:
                first.append(
                    {
                        "row": r,
                        "feature": names[f],
                        "expected": write_value(want),
                        "actual": write_value(got),
                        "expected_bits": bits(want),
                        "actual_bits": bits(got),
                    }
                )
    return {
        "rows": len(rows),
        "features": len(names),
        "cells": len(rows) * len(names),
        "differing": differing,
        "differing_by_feature": per_feature,
        "first": first,
    }


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=Path, default=here / "rows.json")
    parser.add_argument("--expected", type=Path, help="default: expected.json next to rows.json")
    parser.add_argument("--model", type=Path, help="default: ../features.onnx or ./features.onnx")
    parser.add_argument("--optimization", choices=sorted(LEVELS), default="all")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--output", type=Path, help="write every output here (the encoding)")
    parser.add_argument("--report", type=Path, help="write the verdict here as JSON")
    parser.add_argument("--show", type=int, default=10, help="differing cells to print")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "client": "python",
        "runtime": f"onnxruntime {ort.__version__} (Python)",
        "version": ort.__version__,
        "optimization": args.optimization,
        "threads": args.threads,
    }
    try:
        status = verify(args, report)
    except (KitError, OSError, ValueError, KeyError) as error:
        report.update(ok=False, error=f"{type(error).__name__}: {error}")
        print(f"FAILED: {report['error']}", file=sys.stderr)
        status = 1
    except Exception as error:  # onnxruntime's own errors (loading or running the graph)
        report.update(ok=False, error=f"onnxruntime: {error}")
        print(f"FAILED: {report['error']}", file=sys.stderr)
        status = 1
    if args.report:
        args.report.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return status


def verify(args: argparse.Namespace, report: dict[str, Any]) -> int:
    rows_doc = json.loads(args.rows.read_text(encoding="utf-8"))
    expected_path = args.expected or args.rows.parent / "expected.json"
    model = args.model or next(
        (
            p
            for p in (args.rows.parent.parent / "features.onnx", args.rows.parent / "features.onnx")
            if p.exists()
        ),
        args.rows.parent / "features.onnx",
    )
    report["model"] = str(model)
    session = open_session(model, args.optimization, args.threads)
    outputs = run(session, build_feeds(rows_doc))
    if args.output:
        encoded = {
            name: {
                "dtype": "string" if value.dtype == object else str(value.dtype),
                "shape": list(value.shape),
                "data": [write_value(v) for v in value.reshape(-1).tolist()],
            }
            for name, value in outputs.items()
        }
        args.output.write_text(json.dumps({"outputs": encoded}, sort_keys=True) + "\n")
    if args.expected is None and not expected_path.exists():
        report["ok"] = True
        return 0
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    result = compare(expected, outputs[expected["output"]], args.show)
    report.update(result, ok=result["differing"] == 0)
    where = f"{model} on {report['runtime']}, optimization {args.optimization}, {args.threads} thread(s)"
    if report["ok"]:
        print(
            f"OK: {result['cells']} cells ({result['rows']} rows x {result['features']} features) bit-identical; {where}"
        )
        return 0
    print(f"DIFFERENT: {result['differing']} of {result['cells']} cells differ; {where}")
    for name, count in result["differing_by_feature"].items():
        print(f"  {name}: {count} rows")
    for cell in result["first"]:
        print(
            f"  row {cell['row']}, {cell['feature']}: expected {show(read_float(cell['expected'], ''))}, "
            f"got {show(read_float(cell['actual'], ''))}"
        )
    return 1


if __name__ == "__main__":
    sys.exit(main())
