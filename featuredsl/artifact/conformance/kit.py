"""The conformance kit every build directory carries in `conformance/`.

    rows.json            request rows: the edge cases plus a sample of the training data
    expected.json        the numpy module's `features` for those rows, bit-exact
    request.schema.json  JSON Schema of one request row
    client.py            reference client: onnxruntime + numpy
    client.mjs           reference client: Node.js, onnxruntime-node or onnxruntime-web (WASM)
    package.json         the Node client's dependency, for `npm install --ignore-scripts`
    README.md            how to run it

Everything is a pure function of the manifest and the rows, so builds stay byte-identical.
The encoding is `featuredsl.artifact.conformance.encoding` (docs/serving.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

import numpy as np

from featuredsl.artifact.conformance import encoding
from featuredsl.artifact.contract import MASK_SUFFIX, OUTPUT

KIT_DIR = "conformance"
ROWS = f"{KIT_DIR}/rows.json"
EXPECTED = f"{KIT_DIR}/expected.json"
SCHEMA = f"{KIT_DIR}/request.schema.json"
README = f"{KIT_DIR}/README.md"
CLIENT_PY = f"{KIT_DIR}/client.py"
CLIENT_JS = f"{KIT_DIR}/client.mjs"
PACKAGE_JSON = f"{KIT_DIR}/package.json"
KIT_FILES = (ROWS, EXPECTED, SCHEMA, README, CLIENT_PY, CLIENT_JS, PACKAGE_JSON)

DATA_ROWS = 200  # training rows in the kit, evenly spread
EDGE_ROWS = 4_000  # at most this many edge-case rows, evenly spread
# The Node packages the kit's package.json installs (the newest on the npm registry that the
# runtime matrix in featuredsl.parity.matrix runs).
NODE_ORT_VERSION = "1.30.0"
WEB_ORT_VERSION = "1.30.0"


def spread(rows: int, limit: int) -> np.ndarray:
    """Indices of at most `limit` of `rows` rows: all when few, else evenly spaced (int64)."""
    if rows <= limit:
        return np.arange(rows)
    return np.unique(np.linspace(0, rows - 1, limit).astype(np.int64))


def client_source(name: str) -> bytes:
    """The bytes of a packaged reference client: "client.py" or "client.mjs"."""
    return (resources.files("featuredsl.artifact.conformance") / "clients" / name).read_bytes()


def kit_inputs(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The manifest's inputs as rows.json declares them: name, dtype, nullable, mask."""
    return [
        {
            "name": c["name"],
            "dtype": c["dtype"],
            "nullable": c["nullable"],
            "mask": encoding.column_mask(c),
        }
        for c in manifest["inputs"]
    ]


def kit_events(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The manifest's event sources as rows.json declares them (docs/windows.md): each row
    holds a list of events under the source's name; the graph takes `offsets` (int64, rows +
    1) and per column `input` ([E]) with its `mask` when nullable and not a float."""
    return [
        {
            "name": source["name"],
            "offsets": f"{source['name']}.offsets",
            "columns": [
                {
                    "name": c["name"],
                    "input": f"{source['name']}.{c['name']}",
                    "dtype": c["dtype"],
                    "nullable": c["nullable"],
                    "mask": encoding.column_mask({**c, "name": f"{source['name']}.{c['name']}"}),
                }
                for c in source["columns"]
            ],
        }
        for source in manifest.get("events", ())
    ]


def request_schema(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one request row in the conformance encoding."""
    properties = {c["name"]: _column_schema(c) for c in manifest["inputs"]}
    for source in manifest.get("events", ()):  # window aggregates: the row's events
        properties[source["name"]] = {
            "type": "array",
            "description": (
                f"the entity's recent events of source {source['name']!r}, in event-time "
                f"order ({source['time']!r} non-decreasing; docs/windows.md)"
            ),
            "items": {
                "type": "object",
                "properties": {c["name"]: _column_schema(c) for c in source["columns"]},
                "required": [c["name"] for c in source["columns"]],
                "additionalProperties": False,
            },
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{manifest['spec']} request row",
        "description": (
            "One request row of spec "
            f"{manifest['spec']} (fingerprint {manifest['fingerprint']}) in featuredsl's "
            "conformance encoding: floats are JSON numbers or 'NaN', 'Infinity', '-Infinity', "
            "'-0.0'; int64 and timestamps are decimal strings; null only where nullable."
        ),
        "type": "object",
        "properties": properties,
        "required": [c["name"] for c in manifest["inputs"]]
        + [s["name"] for s in manifest.get("events", ())],
        "additionalProperties": False,
    }


def _column_schema(column: Mapping[str, Any]) -> dict[str, Any]:
    dtype = column["dtype"]
    if dtype == "float":
        schema: dict[str, Any] = {
            "anyOf": [{"type": "number"}, {"enum": sorted(encoding.FLOAT_TAGS)}],
            "description": "float64: a JSON number, or a tag for NaN, +-inf and -0.0",
        }
    elif dtype in ("int", "timestamp"):
        what = (
            "int64 microseconds since 1970-01-01T00:00:00Z (a UTC instant)"
            if dtype == "timestamp"
            else "int64"
        )
        schema = {
            "type": "string",
            "pattern": encoding.INTEGER_PATTERN,
            "maxLength": 20,
            "description": f"{what}, as a decimal string",
        }
    elif dtype == "bool":
        schema = {"type": "boolean"}
    else:
        schema = {"type": "string", "description": "Unicode text (no U+0000)"}
    if column["nullable"]:
        mask = encoding.column_mask(column)
        rule = "sent as NaN" if mask is None else f"sets input {mask!r}"
        schema = {"anyOf": [schema, {"type": "null"}], "description": f"nullable: null {rule}"}
    return schema


def kit_files(
    manifest: Mapping[str, Any],
    feed: Mapping[str, np.ndarray],
    sources: Mapping[str, int],
    expected: np.ndarray,
) -> dict[str, bytes]:
    """The kit's files (paths relative to the build directory -> bytes).

    feed: the kit's rows (one [N] array per input plus masks, as `to_feed` gives), made of
    `sources` (e.g. {"data": 200, "edge cases": 744}, in order); expected: the numpy module's
    float64 [N, F] output on them."""
    inputs = kit_inputs(manifest)
    rows_doc = {
        "format": encoding.FORMAT,
        "spec": manifest["spec"],
        "fingerprint": manifest["fingerprint"],
        "inputs": inputs,
        **({"events": kit_events(manifest)} if manifest.get("events") else {}),
        "sources": [{"name": name, "rows": count} for name, count in sources.items()],
        "rows": encoding.encode_rows(feed, manifest["inputs"], manifest.get("events", ())),
    }
    expected_doc = {
        "format": encoding.FORMAT,
        "fingerprint": manifest["fingerprint"],
        "output": OUTPUT,
        "dtype": "float64",
        "feature_names": list(manifest["feature_names"]),
        "rows": encoding.encode_matrix(expected),
    }
    schema = json.dumps(request_schema(manifest), indent=2, sort_keys=True, ensure_ascii=True)
    return {
        ROWS: encoding.dumps(rows_doc),
        EXPECTED: encoding.dumps(expected_doc),
        SCHEMA: (schema + "\n").encode("ascii"),
        README: _readme(manifest, sources, len(inputs)).encode("utf-8"),
        CLIENT_PY: client_source("client.py"),
        CLIENT_JS: client_source("client.mjs"),
        PACKAGE_JSON: _package_json(manifest),
    }


def _package_json(manifest: Mapping[str, Any]) -> bytes:
    package = {
        "name": "featuredsl-conformance-kit",
        "private": True,
        "description": f"Conformance kit of featuredsl spec {manifest['spec']}",
        "scripts": {"verify": "node client.mjs", "verify:web": "node client.mjs --backend web"},
        "dependencies": {"onnxruntime-node": NODE_ORT_VERSION},
        "optionalDependencies": {"onnxruntime-web": WEB_ORT_VERSION},
    }
    return (json.dumps(package, indent=2) + "\n").encode("ascii")


def _readme(manifest: Mapping[str, Any], sources: Mapping[str, int], columns: int) -> str:
    counts = " and ".join(f"{count} rows of {name}" for name, count in sources.items())
    return f"""# Conformance kit: spec `{manifest["spec"]}`

Fingerprint `{manifest["fingerprint"]}`.

This directory proves, on your serving stack, that `../features.onnx` computes exactly the bits
the training module (`../features_train.py`) computes.

* request rows: {counts}; {columns} input columns
* features: {len(manifest["feature_names"])} per row

A run passes only when every cell is bit-identical (NaN equals NaN; -0.0 and 0.0 differ).

| file | what |
|---|---|
| `rows.json` | `inputs` (name, dtype, nullable, mask input) and `rows`: one object per request row |
| `expected.json` | `feature_names` and `rows`: the `{OUTPUT}` matrix, one list per request row |
| `request.schema.json` | JSON Schema of one request row |
| `client.py` | reference client: Python, onnxruntime + numpy |
| `client.mjs` | reference client: Node.js, onnxruntime-node, or onnxruntime-web (WASM) with `--backend web` |
| `package.json` | the Node client's dependencies |

## Run it

Python (any onnxruntime you serve with):

    python client.py [--optimization disabled|basic|extended|all] [--threads N]

Node.js (only Node and this directory needed):

    npm install --ignore-scripts     # onnxruntime-node's install script fetches GPU files
    node client.mjs [--backend web] [--optimization all] [--threads N]

With featuredsl installed, against a runtime of the matrix (installed and cached for you):

    featuredsl verify .. --runtime node            # or python, web, python-ort==1.20.1

A client prints `OK` and exits 0, or prints `DIFFERENT`, the count per feature and the first
differing cells (row, feature, both values with their IEEE-754 bits), and exits 1. `--report
FILE` writes the verdict as JSON. The graph is `../features.onnx` (or `./features.onnx` if you
copy the kit out with it); `--model PATH` overrides it.

## The encoding

Every value reads back to exactly the bits the training module saw:

* float64: a JSON number when finite and not -0.0 (shortest round-trip decimal; read it with a
  correctly rounded parser such as JSON.parse or Python's json), otherwise one of the strings
  `"NaN"`, `"Infinity"`, `"-Infinity"`, `"-0.0"`.
* int64: always a decimal string (`"-9223372036854775808"`); read it as BigInt in JavaScript.
* timestamp: int64 microseconds since 1970-01-01T00:00:00Z (UTC), as a decimal string.
* bool: `true` / `false`; string: a JSON string.
* null (nullable columns only): a float column gets NaN; any other column gets a placeholder
  (0, false, "") and `true` in its mask input, named in `rows.json` (`<column>{MASK_SUFFIX}`).

The graph takes one input per declared column, each of shape [N] (float64, int64, bool or
string), plus the mask inputs, and returns `{OUTPUT}`: float64 [N, F] in the order of
`feature_names`.
"""
