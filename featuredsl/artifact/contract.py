"""The artifact contract: every name a build directory, a graph or a caller relies on, in one place.

This module is a leaf: it imports nothing from featuredsl, so that the compiler, the backends,
the loaders, bundles, the serving Session and the monitors can all take their names from here
(the import-direction test allows it from every layer). Changing a value here changes the
contract with every deployed caller: bump `MANIFEST_VERSION` and say so in docs/serving.md.

Files of a build directory::

    features_train.py    the numpy module (needs numpy only)
    features_train.constants.json
                         only when a list constant is long (a large vocabulary): its items, read
                         by the module, which refuses the file if its sha256 has changed
    features.onnx        the serving graph, float64 output
    features.f32.onnx    optional: the same graph with the output rounded once to float32
    manifest.json        schema, feature order, fitted constants, fingerprint, sha256 of each file
    conformance/         the conformance kit: request rows, expected outputs, request schema,
                         reference clients (featuredsl.artifact.conformance)

Graph boundary: one input per declared column, shape [N]; a nullable int, bool, string or
timestamp column also takes ``<column>.is_null`` (bool, True = null); floats use NaN for null.
The single output ``features`` is [N, F] float64 (float32 in the f32 variant), columns in
``feature_names`` order. Timestamps are int64 microseconds since 1970-01-01T00:00:00Z.
"""

from __future__ import annotations

from typing import Final

# Build directory files.
MODULE_FILE: Final = "features_train.py"
CONSTANTS_FILE: Final = "features_train.constants.json"
ONNX_FILE: Final = "features.onnx"
ONNX_F32_FILE: Final = "features.f32.onnx"
MANIFEST_FILE: Final = "manifest.json"
FAILED_FILE: Final = "build_failed.json"
"""Present in a build directory whose checks failed: loaders refuse it and show its reason."""

# Graph boundary.
OUTPUT: Final = "features"
"""Name of the one output of a feature graph (and of the features inside a bundle)."""
MASK_SUFFIX: Final = ".is_null"
"""Suffix of the companion null-mask input of a nullable non-float column."""

# metadata_props keys of every graph featuredsl writes (feature graphs and bundles).
METADATA_PREFIX: Final = "featuredsl."
KEY_FINGERPRINT: Final = "featuredsl.fingerprint"
KEY_FEATURE_NAMES: Final = "featuredsl.feature_names"
KEY_VERSION: Final = "featuredsl.version"
KEY_SPEC: Final = "featuredsl.spec"
KEY_INPUTS: Final = "featuredsl.inputs"
"""JSON list of ``{name, dtype, nullable}``: the raw request schema."""
KEY_FRESHNESS: Final = "featuredsl.freshness"
"""JSON ``{time, inputs: [{column, as_of, max_age_us, stale}]}`` when the spec declares a
prediction time (``time COLUMN``); absent otherwise. Also the manifest's ``freshness``."""
KEY_EVENTS: Final = "featuredsl.events"
"""JSON list of the event sources the graph aggregates over windows: ``{name, key, time,
lag_us, columns: [{name, dtype, nullable}]}``; their inputs are ``<name>.offsets`` (int64,
rows + 1) and ``<name>.<column>`` per column (docs/windows.md). Absent without windows; also the
manifest's ``events`` (with the ``windows``)."""
OFFSETS_SUFFIX: Final = ".offsets"
"""Suffix of an event source's offsets input: row i's events are offsets[i]:offsets[i + 1]."""
# Bundles only.
KEY_BUNDLE: Final = "featuredsl.bundle"
"""JSON: the adapter between features and model, ``{"by": "name"|"order", ...}``."""
KEY_MODEL_SHA256: Final = "featuredsl.model_sha256"
KEY_MODEL_OUTPUTS: Final = "featuredsl.model_outputs"
KEY_MODEL_PRODUCER: Final = "featuredsl.model_producer"


def mask_name(column: str) -> str:
    """The null-mask input name of `column` (``"plan"`` -> ``"plan.is_null"``)."""
    return column + MASK_SUFFIX


def masked_column(name: str) -> str | None:
    """The column a mask input name belongs to, or None if `name` is not a mask name."""
    return name[: -len(MASK_SUFFIX)] if name.endswith(MASK_SUFFIX) else None
