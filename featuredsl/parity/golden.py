"""Golden files: inputs, exact expected outputs and generated-code snapshots, reviewed as diffs.

A golden directory holds:
  inputs.json        a data sample plus the edge cases, floats as exact hex
  expected.tsv       numpy-module output, one row per input row, floats as float.hex
  features_train.py  the generated numpy module
  features.onnx.txt  onnx.printer.to_text of the serving graph
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx.printer

from featuredsl.artifact.conformance.edge_cases import edge_case_feed
from featuredsl.artifact.contract import OUTPUT
from featuredsl.artifact.spec import FittedSpec, SpecLike, as_spec
from featuredsl.compiler.boundaries import constant_pool, feature_bounds
from featuredsl.ingest.feed import feed_length, take
from featuredsl.parity.compare import compare
from featuredsl.parity.runner import concat_feeds

DATA_SAMPLE_ROWS = 40
EDGE_ROWS = 400  # an even spread of the edge cases keeps golden files reviewable
# With window aggregates each row carries its events: fewer rows keep the files reviewable.
WINDOW_SAMPLE_ROWS = 10
WINDOW_EDGE_ROWS = 60
FILES = ("inputs.json", "expected.tsv", "features_train.py", "features.onnx.txt")


def _fit(spec_path: SpecLike, data: str | Path) -> tuple[FittedSpec, dict[str, np.ndarray]]:
    """The fitted spec and the golden sample of the training data (its first rows; with window
    aggregates, in the request encoding, each event table read from `<source>.csv` beside
    `data`, as the examples keep them)."""
    spec = as_spec(spec_path)
    if spec.program.windows:
        folder = Path(data).parent
        events = {s.name: folder / f"{s.name}.csv" for s in spec.program.sources}
        return spec.fit_windows(data, events, str(data), sample=WINDOW_SAMPLE_ROWS, first=True)
    feed = spec.feed(data, source=str(data))
    return spec.fit_feed(feed), take(feed, slice(0, DATA_SAMPLE_ROWS))


def golden_feed(fitted: FittedSpec, sample: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    inputs = [
        {"name": c.name, "dtype": str(c.dtype), "nullable": c.nullable}
        for c in fitted.program.inputs
    ]
    freshness = fitted.program.freshness
    windows = fitted.program.windows
    edge = edge_case_feed(
        inputs,
        constant_pool(fitted.program),
        freshness=None if freshness is None else freshness.to_json(),
        events=[s.to_json() for s in fitted.program.sources] if windows else None,
        windows=[w.to_json() for w in windows] if windows else None,
    )
    rows = feed_length(edge)
    limit = WINDOW_EDGE_ROWS if windows else EDGE_ROWS
    spread = np.unique(np.linspace(0, rows - 1, min(rows, limit)).astype(np.int64))
    return concat_feeds([sample, take(edge, spread)])


def encode_feed(feed: dict[str, np.ndarray]) -> str:
    def encode(values: np.ndarray) -> list[Any]:
        if values.dtype.kind == "f":
            return [float(v).hex() for v in values]
        return [v.item() if hasattr(v, "item") else v for v in values]

    body = {
        name: {"dtype": str(values.dtype), "values": encode(values)}
        for name, values in feed.items()
    }
    return json.dumps(body, indent=1, ensure_ascii=False) + "\n"


def decode_feed(text: str) -> dict[str, np.ndarray]:
    feed = {}
    for name, column in json.loads(text).items():
        dtype, values = column["dtype"], column["values"]
        if dtype.startswith("float"):
            feed[name] = np.array([float.fromhex(v) for v in values], dtype=np.float64)
        elif dtype == "object":
            feed[name] = np.array(values, dtype=object)
        else:
            feed[name] = np.array(values, dtype=dtype)
    return feed


def encode_outputs(names: tuple[str, ...], outputs: np.ndarray) -> str:
    lines = ["\t".join(names)]
    lines += ["\t".join(float(v).hex() for v in row) for row in outputs]
    return "\n".join(lines) + "\n"


def decode_outputs(text: str) -> np.ndarray:
    rows = text.rstrip("\n").split("\n")[1:]
    return np.array([[float.fromhex(v) for v in row.split("\t")] for row in rows], dtype=np.float64)


def render(
    spec_path: SpecLike, data: str | Path
) -> tuple[FittedSpec, dict[str, str], dict[str, np.ndarray]]:
    fitted, training = _fit(spec_path, data)
    feed = golden_feed(fitted, training)
    texts = {
        "inputs.json": encode_feed(feed),
        "expected.tsv": encode_outputs(fitted.feature_names, fitted.transform_feed(feed)),
        "features_train.py": fitted.numpy_source,
        "features.onnx.txt": onnx.printer.to_text(fitted.onnx_model()) + "\n",
    }
    return fitted, texts, feed


def write_golden(spec_path: SpecLike, data: str | Path, directory: str | Path) -> list[Path]:
    _, texts, _ = render(spec_path, data)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in texts.items():
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    return written


def check_golden(
    spec_path: SpecLike,
    data: str | Path,
    directory: str | Path,
    regenerate: str = "write_golden(spec, data, directory)",
) -> list[str]:
    """Problems found (empty when everything matches): snapshot diffs and output mismatches.
    `regenerate` is how the caller writes the files, named in the message when some are missing."""
    folder = Path(directory)
    missing = [name for name in FILES if not (folder / name).exists()]
    if missing:
        what = "has no golden files yet" if len(missing) == len(FILES) else "is missing"
        return [
            f"{folder}: {what} ({', '.join(missing)}); write them with `{regenerate}` "
            "and review them before committing"
        ]
    fitted, texts, _ = render(spec_path, data)
    problems = []
    for name in ("features_train.py", "features.onnx.txt", "inputs.json"):
        stored = (folder / name).read_text("utf-8")
        if stored != texts[name]:
            diff = difflib.unified_diff(
                stored.splitlines(),
                texts[name].splitlines(),
                f"golden/{name}",
                "now",
                lineterm="",
                n=1,
            )
            problems.append(
                f"{folder / name} differs from the generated text:\n" + "\n".join(list(diff)[:60])
            )
    feed = decode_feed((folder / "inputs.json").read_text("utf-8"))
    expected = decode_outputs((folder / "expected.tsv").read_text("utf-8"))
    numpy_out = fitted.transform_feed(feed)
    if numpy_out.shape != expected.shape or not _bitwise_equal(numpy_out, expected):
        problems.append(f"{folder}: the numpy module's output differs from expected.tsv")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(fitted.onnx_model().SerializeToString(), options)
    onnx_out = session.run([OUTPUT], feed)[0]
    result = compare(
        fitted.feature_names, expected, onnx_out, feature_bounds(fitted.program.features)
    )
    for column in result.columns:
        if column.violations:
            problems.append(
                f"{folder}: ONNX output of {column.name} differs from expected.tsv in {column.violations} rows"
            )
    return problems


def _bitwise_equal(a: np.ndarray, b: np.ndarray) -> bool:
    same = (a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))
    return bool(same.all())
