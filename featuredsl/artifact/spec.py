"""Build, save and load the artifacts of a spec: numpy module, ONNX graph(s), manifest.

Both artifacts and the manifest carry one fingerprint: a hash of the canonical spec text and
the fitted constants. Loading checks that all three agree."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnx

from featuredsl import __version__
from featuredsl.artifact.conformance import kit
from featuredsl.artifact.conformance.edge_cases import edge_case_feed
from featuredsl.artifact.contract import (
    CONSTANTS_FILE,
    MANIFEST_FILE,
    MODULE_FILE,
    ONNX_F32_FILE,
    ONNX_FILE,
    OUTPUT,
)
from featuredsl.artifact.fingerprint import fingerprint_of, tzdata_of
from featuredsl.artifact.load import build_files, features_of, remove_stale
from featuredsl.artifact.manifest import encode_pool, manifest_text
from featuredsl.artifact.quality import DataQuality, QualityTally, assess
from featuredsl.artifact.transform import width_slices
from featuredsl.backends.numpy import codegen as numpy_backend
from featuredsl.backends.numpy.evaluate import evaluate, evaluate_columns, execute_module
from featuredsl.backends.onnx import graph as onnx_backend
from featuredsl.compiler.boundaries import constant_pool, feature_bounds
from featuredsl.compiler.frontend import check_source, read_spec
from featuredsl.compiler.ir import Builder, Node, Program, walk
from featuredsl.compiler.tables import tabulate
from featuredsl.errors import ArtifactError
from featuredsl.fit.fitting import FittedConstant, fit_batches, fit_program
from featuredsl.ingest.batches import open_source
from featuredsl.ingest.feed import concat_feeds, feed_length, take


class FeedStream(Protocol):
    """Feeds streamed in batches (featuredsl.ingest.batches.BatchSource, or one whose batches
    carry backfilled window aggregates): the row count and re-iterable (row offset, feed)."""

    @property
    def rows(self) -> int: ...

    def batches(self) -> Iterator[tuple[int, dict[str, np.ndarray]]]: ...


RowsHook = Callable[[str, int, int], None]
"""Progress of a pass over streamed data: (what, rows done, rows in all); called per batch."""


def _quiet(what: str, done: int, total: int) -> None:
    return None


def _feed(
    data: Any,
    program: Program,
    source: str,
    extra: str = "ignore",
    timestamp_unit: str | None = None,
) -> dict[str, np.ndarray]:
    from featuredsl.ingest import to_feed

    return to_feed(data, program.inputs, source=source, extra=extra, timestamp_unit=timestamp_unit)


def feed_rows(feed: Mapping[str, np.ndarray]) -> int:
    """Rows of a feed (0 when it has no column)."""
    return len(next(iter(feed.values()), ()))


def null_encoding(column: Any) -> str:
    if not column.nullable:
        return "none"
    if column.mask_name is None:
        return "NaN"
    return f"mask:{column.mask_name}"


class Spec:
    """A checked, unfitted spec: its program with analyzers not yet fitted.

    Args:
        source: the spec text.
        filename: how diagnostics name the text.

    Raises:
        DiagnosticError: the spec does not parse or check; every error with file, line,
            column, a caret and the fix.
    """

    def __init__(self, source: str, filename: str = "<spec>"):
        self.source = source
        self.filename = filename
        self.builder = Builder()
        self.program = check_source(source, filename, self.builder)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        # Copies and pickles (sklearn's clone, joblib workers) re-check the text: a fresh builder.
        return (Spec, (self.source, self.filename))

    def __repr__(self) -> str:
        return f"Spec({self.program.name!r}, filename={self.filename!r})"

    @property
    def name(self) -> str:
        """The name after `spec` in the text."""
        return self.program.name

    @property
    def inputs(self) -> tuple[Any, ...]:
        """The declared input columns, in order (`InputColumn(name, dtype, nullable)`)."""
        return self.program.inputs

    def unsupported(self) -> list[str]:
        """Ops the serving graph cannot compute, with their reasons."""
        ops = {n.op for n in walk(self.program.roots)}
        return [
            f"{op}: {reason}"
            for op, reason in onnx_backend.UNSUPPORTED.items()
            if op in ops and op != "fitted"
        ]

    def feed(
        self, data: Any, source: str = "training data", timestamp_unit: str | None = None
    ) -> dict[str, np.ndarray]:
        """Convert and validate data (a table, a Parquet/CSV path, a dict of arrays) to the feed."""
        return _feed(data, self.program, source, timestamp_unit=timestamp_unit)

    def fit(
        self,
        data: Any,
        source: str = "training data",
        batch_rows: int | None = None,
        timestamp_unit: str | None = None,
        events: Mapping[str, Any] | None = None,
    ) -> FittedSpec:
        """Fit every analyzer (mean, quantiles, vocab, ...) on the training data.

        Args:
            data: a pandas DataFrame, a pyarrow Table or RecordBatch, a dict of 1-D columns (numpy
            arrays, lists, Series, Arrow arrays), a list of row dicts, or a path: a Parquet, CSV or
            TSV file, a directory of them (hive-partitioned Parquet too) or a glob, which is
            streamed in batches of `batch_rows` rows (see `featuredsl.ingest.batches`); it needs
            every declared input column (others are ignored), typed as the spec declares (floats
            float64 with NaN as null; ints int64; timestamps tz-aware datetimes, numpy
            datetime64, or integers in `timestamp_unit`; text in Unicode NFC).
            source: how errors name the data (a path names itself).
            batch_rows: rows per batch when streaming a path (default DEFAULT_BATCH_ROWS). The
                constants do not depend on it, bit for bit.
            timestamp_unit: the unit of bare integers in timestamp columns ("s", "ms", "us",
                "ns"); without it they are refused (typed datetimes carry their own unit).
            events: for a spec with window aggregates, each event source's table by source
                name (any form `data` takes; the key column and every declared event column):
                every label row of `data` gets each window's value at its prediction time
                (`featuredsl.artifact.windows.backfill`, docs/windows.md). Read in memory.

        Returns:
            The FittedSpec: both artifacts and the manifest can be produced from it.

        Raises:
            DataError: a column is missing or holds a value that does not fit its declared type
                (the column, row, value and the fix are named).
            DiagnosticError: an analyzer has nothing to fit on (e.g. every value is null),
                pointing at the analyzer in the spec.
        """
        if self.program.windows:
            return self.fit_windows(data, events, source, timestamp_unit, batch_rows=batch_rows)[0]
        if isinstance(data, (str, os.PathLike)):
            stream = open_source(
                data, self.inputs, batch_rows=batch_rows, timestamp_unit=timestamp_unit
            )
            return self.fit_stream(stream)[0]
        return self.fit_feed(self.feed(data, source, timestamp_unit))

    def fit_windows(
        self,
        data: Any,
        events: Mapping[str, Any] | None,
        source: str = "training data",
        timestamp_unit: str | None = None,
        sample: int = 0,
        first: bool = False,
        batch_rows: int | None = None,
        progress: RowsHook = _quiet,
        null_values: Sequence[str] = (),
    ) -> tuple[FittedSpec, dict[str, np.ndarray]]:
        """`fit` for a spec with window aggregates: the event tables are read (in memory), the
        label rows streamed in batches of `batch_rows` when `data` is a path (else read at
        once), every window backfilled point-in-time correct batch by batch, and the analyzers
        fitted on the completed rows (the same constants at any batch size). The conformance
        kit's data rows carry their events in the request encoding (docs/windows.md).

        Returns:
            (the FittedSpec, `sample` rows evenly spread over the data (all when fewer; the
            first `sample` rows when `first`) in the request encoding: the rows with their
            entity's events, as a serving path sends them).

        Raises:
            DataError: bad label or event data, or a missing event table (named).
        """
        from featuredsl.artifact.windows import (
            BackfilledStream,
            backfill,
            convert_events,
            label_columns,
            request_feed,
        )

        event_feeds = convert_events(self.program, events, timestamp_unit, null_values)
        if isinstance(data, (str, os.PathLike)):
            stream = open_source(
                data,
                self.inputs,
                batch_rows=batch_rows,
                null_values=null_values,
                timestamp_unit=timestamp_unit,
            )
            rows = stream.rows
            wanted = np.arange(min(rows, sample)) if first else kit.spread(rows, sample)
            backfilled = BackfilledStream(stream, self.program, event_feeds)
            fitted, kept = self.fit_stream(backfilled, keep=wanted, progress=progress)
            none = concat_feeds([], self.inputs)  # no label rows: an empty feed, typed
            kit_rows = label_columns(self.program, fitted.kit_sample or none)
            fitted.kit_sample = request_feed(self.program, kit_rows, event_feeds)
            kept_rows = label_columns(self.program, kept or none)
            return fitted, request_feed(self.program, kept_rows, event_feeds)
        feed = self.feed(data, source, timestamp_unit)
        fitted = self.fit_feed({**feed, **backfill(self.program, feed, event_feeds)})
        rows = feed_length(feed)
        fitted.kit_sample = request_feed(
            self.program, take(feed, kit.spread(rows, kit.DATA_ROWS)), event_feeds
        )
        wanted = np.arange(min(rows, sample)) if first else kit.spread(rows, sample)
        return fitted, request_feed(self.program, take(feed, wanted), event_feeds)

    def fit_stream(
        self,
        stream: FeedStream,
        keep: np.ndarray | None = None,
        progress: RowsHook = _quiet,
    ) -> tuple[FittedSpec, dict[str, np.ndarray]]:
        """`fit` on a stream of batches: one pass per phase of analyzers, then one pass that
        measures data quality and keeps the sample rows. Memory is bounded by the batch size
        plus the accumulators (see docs/scale.md); the result is the FittedSpec `fit_feed`
        gives on all the rows at once, byte for byte.

        Args:
            stream: the BatchSource (`featuredsl.ingest.batches.open_source`).
            keep: sorted source row numbers (int64) to return as a feed, e.g. a parity sample.
            progress: called after every batch with (pass description, rows done, rows).

        Returns:
            (the FittedSpec, the feed of the `keep` rows).

        Raises:
            DataError: bad data (column and source row named). DiagnosticError: an analyzer
                has nothing to fit on.
        """
        rows = stream.rows
        passes: list[str] = []

        def feeds() -> Any:
            what = passes[-1]
            for offset, feed in stream.batches():
                yield feed
                progress(what, offset + feed_rows(feed), rows)

        def on_pass(phase: int, phases: int) -> None:
            passes.append(f"fitting (pass {phase})")

        program, constants = fit_batches(self.program, feeds, self.builder, evaluate, on_pass)
        fitted = self._fitted(program, constants)
        kit_rows = kit.spread(rows, kit.DATA_ROWS)
        wanted = np.union1d(kit_rows, keep if keep is not None else np.zeros(0, np.int64))
        tally = QualityTally(program, fitted.feature_names)
        parts = []
        width = len(fitted.feature_names)
        for offset, feed in stream.batches():
            n = feed_rows(feed)
            for piece in width_slices(feed, width):
                tally.add(piece, fitted.transform_feed(piece))
            local = wanted[(wanted >= offset) & (wanted < offset + n)] - offset
            parts.append({name: values[local] for name, values in feed.items()})
            progress("measuring data quality", offset + n, rows)
        fitted.quality = tally.result()
        if not parts:
            return fitted, {}
        sample = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
        fitted.kit_sample = {
            name: values[np.searchsorted(wanted, kit_rows)] for name, values in sample.items()
        }
        kept = np.searchsorted(wanted, keep) if keep is not None else np.zeros(0, np.int64)
        return fitted, {name: values[kept] for name, values in sample.items()}

    def _fitted(self, program: Program, constants: list[FittedConstant]) -> FittedSpec:
        return FittedSpec(
            program,
            constants,
            fingerprint_of(
                program.canonical_source,
                [c.value for c in constants],
                [c.params for c in constants],
                tzdata_of(program),
            ),
        )

    def fit_feed(self, feed: dict[str, np.ndarray]) -> FittedSpec:
        """`fit` on a canonical feed (`featuredsl.ingest.to_feed`), with no conversion."""
        program, constants = fit_program(self.program, feed, self.builder, evaluate)
        sample = kit.spread(len(next(iter(feed.values()), ())), kit.DATA_ROWS)
        fitted = self._fitted(program, constants)
        fitted.kit_sample = {name: values[sample] for name, values in feed.items()}
        names = [n for c in program.inputs for n in (c.name, c.mask_name) if n is not None]
        if all(name in feed for name in names):  # a partial feed fits what it can, unassessed
            features = fitted.transform_feed(feed)
            fitted.quality = assess(program, feed, features, fitted.feature_names)
        return fitted


def load_spec(path: str | Path) -> Spec:
    """Read and check a .fdsl file.

    Raises:
        FeatureDSLError: the file cannot be read or is not UTF-8.
        DiagnosticError: the spec does not parse or check (file, line, column, caret, fix).
    """
    return Spec(read_spec(path), str(path))


SpecLike = Spec | str | os.PathLike[str]


def as_spec(spec: SpecLike, where: str = "spec") -> Spec:
    """The one way every API takes a spec: a loaded Spec, a path to a .fdsl file (str or Path),
    or the spec text itself (a string holding a newline or not naming a file)."""
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, os.PathLike):
        return load_spec(Path(spec))
    if isinstance(spec, str):
        if "\n" not in spec and (spec.endswith(".fdsl") or Path(spec).is_file()):
            return load_spec(spec)
        return Spec(spec)
    if isinstance(spec, FittedSpec):
        raise TypeError(
            f"{where}: this FittedSpec is already fitted; pass the unfitted spec "
            "(featuredsl.load_spec(path)), its path or its text"
        )
    raise TypeError(
        f"{where} must be a Spec (featuredsl.load_spec(path)), a path to a .fdsl file or the "
        f"spec text, not {type(spec).__name__}"
    )


@dataclass
class FittedSpec:
    """A spec with its statistics fitted: the source of both artifacts and the manifest.

    `transform` runs the numpy module in process; `save` writes the build directory (module,
    ONNX graph, manifest, conformance kit). `fingerprint` (sha256 hex) identifies the canonical
    spec and the fitted constants; both artifacts carry it.
    """

    program: Program
    constants: list[FittedConstant]
    fingerprint: str
    _module: dict[str, Any] = field(default_factory=dict, repr=False)
    # Training rows for the conformance kit (an even spread of at most kit.DATA_ROWS).
    kit_sample: dict[str, np.ndarray] | None = field(default=None, repr=False)
    # What the training data looked like through the features (None: not fitted here).
    quality: DataQuality | None = field(default=None, repr=False)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The output column names, in order (a one_hot feature has one per column)."""
        return self.program.feature_columns

    @cached_property
    def artifact_outputs(self) -> tuple[tuple[str, Node], ...]:
        """(feature name, IR node) of every feature as both artifacts compute it: the fitted
        program with pure functions of small integer ranges turned into tables
        (featuredsl.compiler.tables), evaluated by the numpy module's own code."""
        roots = tabulate(self.program.roots, evaluate_columns)
        return tuple((f.name, node) for f, node in zip(self.program.features, roots, strict=True))

    @cached_property
    def numpy_files(self) -> dict[str, bytes]:
        """The numpy module and, when it stores long list constants, its constants file."""
        source, constants = numpy_backend.render_module_files(
            numpy_backend.ModuleSpec(
                spec_name=self.program.name,
                fingerprint=self.fingerprint,
                inputs=self.program.inputs,
                outputs=self.artifact_outputs,
                column_names=self.feature_names,
                widths=tuple(len(f.column_names or ()) for f in self.program.features),
                constants_file=CONSTANTS_FILE,
                sources=self.program.sources,
                windows=self.program.windows,
                time=self.program.freshness.time if self.program.freshness else None,
            )
        )
        files = {MODULE_FILE: source.encode("utf-8")}
        if constants is not None:
            files[CONSTANTS_FILE] = constants
        return files

    @cached_property
    def boundaries(self) -> dict[str, list[Any]]:
        """The constant pool the edge cases are built from (long lists sampled)."""
        return constant_pool(self.program)

    @property
    def numpy_source(self) -> str:
        """The text of the standalone training module (features_train.py)."""
        return self.numpy_files[MODULE_FILE].decode("utf-8")

    def onnx_model(self, float32: bool = False) -> onnx.ModelProto:
        """The serving graph: one input per declared column ([N]; masks for nullable non-float
        columns), one output `features` [N, F] float64 (float32 if `float32`).

        Raises ArtifactError when an op cannot be served (none at present)."""
        unsupported = [n.op for n in walk(self.program.roots) if n.op in onnx_backend.UNSUPPORTED]
        if unsupported:
            reason = onnx_backend.UNSUPPORTED[unsupported[0]]
            raise ArtifactError(
                f"spec {self.program.name}: cannot build the serving graph: {reason}"
            )
        return onnx_backend.build_model(
            onnx_backend.GraphSpec(
                spec_name=self.program.name,
                fingerprint=self.fingerprint,
                inputs=self.program.inputs,
                outputs=self.artifact_outputs,
                column_names=self.feature_names,
                float32=float32,
                freshness=self.program.freshness,
                source=self.program.source,
                sources=self.program.sources,
                windows=self.program.windows,
            )
        )

    def feed(
        self, data: Any, source: str = "data", timestamp_unit: str | None = None
    ) -> dict[str, np.ndarray]:
        """`data` converted to the canonical feed; DataError naming column and row otherwise."""
        return _feed(data, self.program, source, timestamp_unit=timestamp_unit)

    def transform_feed(self, feed: Mapping[str, np.ndarray], float32: bool = False) -> np.ndarray:
        """The numpy module on a canonical feed: float64 [rows, len(feature_names)] (values
        rounded once to float32 when `float32`). For a spec with windows, the feed is either the
        request encoding (events per row) or a backfilled feed (each window aggregate a
        column, as `featuredsl.artifact.windows.backfill` adds them): the module takes both."""
        beside = {name: data for name, data in self.numpy_files.items() if name != MODULE_FILE}
        result: np.ndarray = execute_module(self.numpy_source, dict(feed), beside, float32=float32)
        return result

    def transform(
        self,
        data: Any,
        float32: bool = False,
        as_frame: bool = False,
        sparse: bool = False,
        timestamp_unit: str | None = None,
        events: Mapping[str, Any] | None = None,
    ) -> Any:
        """The features of `data`: float64 [rows, len(feature_names)] in `feature_names` order.

        Args:
            data: a pandas DataFrame, a pyarrow Table or RecordBatch, a dict of 1-D columns (numpy
                arrays, lists, Series, Arrow arrays), a list of row dicts, or a path to a Parquet
                or CSV file; it needs every declared input column (others are ignored), typed as
                the spec declares (floats float64 with NaN as null; ints int64; timestamps
                tz-aware datetimes, numpy datetime64, or integers in `timestamp_unit`; text in NFC).
            float32: the values rounded once to float32 (what a float32 model is fed).
            as_frame: a pandas DataFrame with the feature names as columns instead.
            sparse: a scipy.sparse CSR matrix instead (for wide one-hot and hashed features:
                computed in bounded row slices, the dense matrix never exists).
            timestamp_unit: the unit of bare integers in timestamp columns (see `Spec.fit`).
            events: for a spec with window aggregates, the event tables by source name: the
                windows are backfilled for every row of `data`, as `Spec.fit` does.

        Raises:
            DataError: a column is missing or a value does not fit its declared type.
            ValueError: both `as_frame` and `sparse`.
        """
        feed = self.feed(data, timestamp_unit=timestamp_unit)
        if self.program.windows:
            from featuredsl.artifact.windows import backfill, convert_events

            event_feeds = convert_events(self.program, events, timestamp_unit)
            feed.update(backfill(self.program, feed, event_feeds))
        return features_of(self.transform_feed, feed, self.feature_names, float32, as_frame, sparse)

    def _repr_html_(self) -> str:
        """The fitted constants, input contract and data quality, for notebooks."""
        from featuredsl.artifact.display import notebook_html
        from featuredsl.artifact.summary import build_document

        return notebook_html(build_document(self.manifest()))

    def manifest(self, float32: bool = False) -> dict[str, Any]:
        """The manifest (JSON-ready): schema, feature order, constants, fingerprint, data
        quality and parity metadata (file hashes are added by `files`)."""
        tzdata = tzdata_of(self.program)
        return {
            "featuredsl_version": __version__,
            "spec": self.program.name,
            "fingerprint": self.fingerprint,
            "canonical_spec": self.program.canonical_source,
            **({"tzdata": tzdata} if tzdata is not None else {}),
            "inputs": [
                {
                    "name": c.name,
                    "dtype": str(c.dtype),
                    "nullable": c.nullable,
                    "null_encoding": null_encoding(c),
                }
                for c in self.program.inputs
            ],
            "features": [
                {
                    "name": f.name,
                    "dtype": str(f.dtype),
                    "columns": list(f.column_names or ()),
                    "inputs": list(f.inputs_used),
                }
                for f in self.program.features
            ],
            "feature_names": list(self.feature_names),
            **(
                {"freshness": self.program.freshness.to_json()}
                if self.program.freshness is not None
                else {}
            ),
            **(
                {
                    "events": [s.to_json() for s in self.program.sources],
                    "windows": [w.to_json() for w in self.program.windows],
                }
                if self.program.windows
                else {}
            ),
            **({"data_quality": self.quality.to_json()} if self.quality else {}),
            "output": {
                "name": OUTPUT,
                "dtype": "float64",
                "float32_variant": ONNX_F32_FILE if float32 else None,
            },
            "constants": [
                {
                    "analyzer": c.analyzer,
                    "params": c.params,
                    "at": f"{c.line}:{c.column}",
                    "expression": c.source,
                    "value": c.value,
                    **({"counts": list(c.counts)} if c.counts is not None else {}),
                }
                for c in self.constants
            ],
            "onnx": {
                "opset": onnx_backend.OPSET,
                "ml_opset": onnx_backend.ML_OPSET,
                "ir_version": onnx_backend.IR_VERSION,
            },
            "parity": {
                "ulp_bounds": feature_bounds(self.program.features),
                "constant_pool": encode_pool(self.boundaries),
            },
        }

    def kit_files(self, manifest: Mapping[str, Any]) -> dict[str, bytes]:
        """The conformance kit (paths relative to the build directory -> bytes): the edge
        cases and the training sample kept by `fit`, with the numpy module's outputs."""
        edge = edge_case_feed(
            manifest["inputs"],
            self.boundaries,
            freshness=manifest.get("freshness"),
            events=manifest.get("events"),
            windows=manifest.get("windows"),
        )
        edge_rows = kit.spread(feed_length(edge), kit.EDGE_ROWS)
        parts, sources = [], {}
        if self.kit_sample and feed_length(self.kit_sample):
            parts.append(self.kit_sample)
            sources["data"] = feed_length(self.kit_sample)
        parts.append(take(edge, edge_rows))
        sources["edge cases"] = len(edge_rows)
        feed = concat_feeds(parts, ())
        return kit.kit_files(manifest, feed, sources, self.transform_feed(feed))

    def files(self, float32: bool = False) -> dict[str, bytes]:
        """Every file of the build directory (relative path -> bytes), the manifest last.

        The manifest records the sha256 of every other file; loading checks them."""
        files = dict(self.numpy_files)
        files[ONNX_FILE] = _serialize(self.onnx_model())
        if float32:
            files[ONNX_F32_FILE] = _serialize(self.onnx_model(float32=True))
        manifest = self.manifest(float32)
        files.update(self.kit_files(manifest))
        manifest["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
        files[MANIFEST_FILE] = (manifest_text(manifest) + "\n").encode("utf-8")
        return files

    def save(self, out_dir: str | Path, float32: bool = False) -> dict[str, Path]:
        """Write the build directory: features_train.py, features.onnx (and features.f32.onnx
        when `float32`), the conformance kit and manifest.json last; -> the paths by file name.
        Byte-identical for the same spec and data. No parity check: `featuredsl.build` does
        that before publishing. Raises OSError when the directory cannot be written."""
        """Write the build directory (module, graph(s), conformance kit, manifest last) and
        remove the files an earlier build wrote there that this one does not; -> the paths
        written, by relative name."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        earlier = build_files(out)
        written = {}
        for name, data in self.files(float32).items():
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written[name] = path
        remove_stale(out, earlier, set(written))
        return written


def _serialize(model: onnx.ModelProto) -> bytes:
    onnx_backend.check_model(model)
    data: bytes = model.SerializeToString(deterministic=True)
    return data
