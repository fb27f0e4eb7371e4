"""A validated onnxruntime session for a build directory or a bundle.

    session = Session("served.onnx", log="serving.db")
    session.predict([{"age": 31.0, ...}])     # {"label": ..., "probabilities": ...}
    session.predict({"age": 31.0, ...})       # one row: outputs of length 1
    session.transform(frame)                   # features [N, F] float64

Every request is checked before onnxruntime sees it: the columns (none missing, none extra
unless the session ignores extras, in every row), each value's type, shape and nullability, time zones, text (UTF-8, no NUL), and the
feature fingerprint a client says it was built for. Each problem is a DataError naming the
column and the row. With `log=`, every call is recorded in a serving log
(featuredsl.monitor.serving_log) that `featuredsl replay` checks against the training module.
"""

from __future__ import annotations

import difflib
import json
import os
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.artifact.contract import (
    KEY_BUNDLE,
    KEY_EVENTS,
    KEY_FEATURE_NAMES,
    KEY_FINGERPRINT,
    KEY_FRESHNESS,
    KEY_INPUTS,
)
from featuredsl.artifact.contract import OUTPUT as FEATURES
from featuredsl.artifact.contract import mask_name as contract_mask
from featuredsl.compiler.ir import EventSource, Freshness, InputColumn
from featuredsl.compiler.types import DType
from featuredsl.errors import ArtifactError, DataError, FeatureDSLError
from featuredsl.ingest import Feed, feed_length, read_table, to_feed
from featuredsl.ingest.convert import FIRST_INSTANT, LAST_INSTANT
from featuredsl.ingest.events import (
    check_rows,
    events_feed,
    first_out_of_order,
    split_events,
)
from featuredsl.runtime.freshness import check_freshness

SOURCE = "request"


@dataclass(frozen=True)
class Served:
    """What a session serves: the graph file and the contract of its inputs and outputs."""

    onnx_path: Path
    kind: str  # "build" (a feature build directory) or "bundle"
    fingerprint: str
    feature_names: tuple[str, ...]
    inputs: tuple[InputColumn, ...]
    freshness: Freshness | None = None  # the spec's `time` and `as_of` declarations
    # The event sources of its window aggregates (docs/windows.md): each request row carries
    # its entity's recent events under the source's name.
    event_sources: tuple[EventSource, ...] = ()


def open_served(path: str | Path) -> Served:
    """A build directory or a bundle file, with its input schema."""
    p = Path(path)
    if p.is_dir():
        from featuredsl.artifact.load import load

        artifacts = load(p)
        return Served(
            artifacts.onnx_path,
            "build",
            artifacts.fingerprint,
            artifacts.feature_names,
            tuple(artifacts.program_inputs),
            _build_freshness(artifacts.manifest, p),
            artifacts.event_sources,
        )
    if not p.is_file():
        raise ArtifactError(f"{p}: no such build directory or bundle")
    return _served_bundle(p)


def _served_bundle(path: Path) -> Served:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:
        raise ArtifactError(f"{path}: not a readable ONNX model ({err})") from None
    meta = {p.key: p.value for p in model.metadata_props}
    if KEY_FINGERPRINT not in meta:
        raise ArtifactError(f"{path}: has no featuredsl fingerprint; is it a featuredsl bundle?")
    if KEY_BUNDLE not in meta or KEY_INPUTS not in meta:
        raise ArtifactError(
            f"{path}: is a feature graph, not a bundle; serve its build directory instead (its "
            "manifest's integrity checks come with it), or a bundle made by `featuredsl bundle`"
        )
    try:
        inputs = tuple(
            InputColumn(i["name"], DType(i["dtype"]), bool(i["nullable"]))
            for i in json.loads(meta[KEY_INPUTS])
        )
        names = tuple(json.loads(meta.get(KEY_FEATURE_NAMES, "[]")))
        freshness = json.loads(meta[KEY_FRESHNESS]) if KEY_FRESHNESS in meta else None
        sources = tuple(EventSource.from_json(s) for s in json.loads(meta.get(KEY_EVENTS, "[]")))
    except (ValueError, KeyError, TypeError) as err:
        raise ArtifactError(f"{path}: corrupt featuredsl metadata ({err})") from None
    return Served(
        path,
        "bundle",
        meta[KEY_FINGERPRINT],
        names,
        inputs,
        _freshness(freshness, path),
        sources,
    )


def _build_freshness(manifest: Mapping[str, Any], where: Path) -> Freshness | None:
    """The manifest's freshness, which must be the one its canonical spec declares: the
    fingerprint covers the spec, so an edited budget or policy is caught here."""
    declared = _freshness(manifest.get("freshness"), where)
    if declared is None and "time" not in str(manifest.get("canonical_spec", "")):
        return None  # no `time` in the spec text: nothing to check
    from featuredsl.compiler.frontend import check_source

    try:
        expected = check_source(str(manifest["canonical_spec"])).freshness
    except FeatureDSLError as err:
        raise ArtifactError(f"{where}: its canonical spec does not check ({err})") from None
    if declared != expected:
        raise ArtifactError(
            f"{where}: the manifest's freshness declarations differ from its spec's; the manifest "
            "was edited: rebuild the directory"
        )
    return declared


def _freshness(data: Any, where: Path) -> Freshness | None:
    try:
        return Freshness.from_json(data)
    except (ValueError, KeyError, TypeError) as err:
        raise ArtifactError(f"{where}: corrupt freshness declaration ({err})") from None


def _ort_session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise ArtifactError(f"{path}: onnxruntime cannot load it ({err})") from None


def _expected_feed(inputs: Sequence[InputColumn]) -> dict[str, str]:
    expected = {}
    for c in inputs:
        expected[c.name] = str(c.dtype)
        if c.mask_name is not None:
            expected[c.mask_name] = "bool"
    return expected


def _check_graph_inputs(
    session: Any,
    inputs: Sequence[InputColumn],
    where: Path,
    sources: Sequence[EventSource] = (),
) -> None:
    """The graph must take exactly the feed the schema describes (a corrupt bundle otherwise):
    the inputs, and each event source's offsets and event columns."""
    found = {i.name for i in session.get_inputs()}
    expected = set(_expected_feed(inputs))
    for source in sources:
        expected |= {source.offsets_name, *_expected_feed(source.event_inputs)}
    if found != expected:
        missing, extra = sorted(expected - found), sorted(found - expected)
        raise ArtifactError(
            f"{where}: the graph's inputs do not match its schema (schema only: {missing}, "
            f"graph only: {extra}); rebuild the bundle"
        )


# ----------------------------------------------------------------------------- request checks


def _is_column(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray)) or hasattr(value, "__array__")


EXTRA_POLICIES = ("error", "ignore")


def _declared(col: InputColumn) -> str:
    return f"{col.name} ({col.dtype}{'?' if col.nullable else ''})"


def as_rows(rows: Any) -> Any:
    """A single-row request (a dict of column -> value) as a list of that one row; every other
    form unchanged. A dict mixing single values and columns is refused: it is neither."""
    if not isinstance(rows, Mapping) or not rows:
        return rows
    kinds = {name: _is_column(value) for name, value in rows.items()}
    if not any(kinds.values()):
        return [rows]
    single = next((name for name, is_column in kinds.items() if not is_column), None)
    if single is not None:
        column = next(name for name, is_column in kinds.items() if is_column)
        raise DataError(
            f"{SOURCE}: column {single!r} holds a single {type(rows[single]).__name__} but column "
            f"{column!r} holds a column of values; send one row as a dict of values, or every "
            "column as a list of values"
        )
    return rows


def _column_names(rows: Any) -> list[Any] | None:
    """The column names of a columnar request (dict of columns, DataFrame, Arrow table)."""
    if isinstance(rows, Mapping):
        return list(rows)
    names = getattr(rows, "column_names", None)  # pyarrow Table / RecordBatch
    if names is None:
        names = getattr(rows, "columns", None)  # pandas / polars DataFrame
    if names is None or isinstance(rows, (list, tuple)):
        return None
    try:
        return list(names)
    except TypeError:
        return None


def _check_extra(names: list[Any], inputs: Sequence[InputColumn], extra: str, where: str) -> None:
    declared = {c.name: c for c in inputs}
    listed = ", ".join(_declared(c) for c in inputs)
    for name in names:
        if name in declared:
            continue
        mask_of = isinstance(name, str) and name.endswith(".is_null")
        owner = declared.get(name[: -len(".is_null")]) if mask_of else None
        if owner is not None:
            raise DataError(
                f"{SOURCE}: {where}column {name!r} is the serving graph's own null mask of "
                f"{owner.name!r}; a request sends {owner.name!r} with None for a null, never "
                "the mask"
            )
        if extra == "error":
            missing = [c.name for c in inputs if c.name not in names]
            close = difflib.get_close_matches(str(name), missing, n=1)
            guess = f" (did you mean {close[0]!r}, which is missing?)" if close else ""
            raise DataError(
                f"{SOURCE}: {where}unexpected column {name!r}{guess}; it is not a declared "
                f"input ({listed}): drop it, or open the Session with extra='ignore'"
            )


def check_request_shape(rows: Any, inputs: Sequence[InputColumn], extra: str = "error") -> None:
    """What `to_feed` cannot say with a row number: keys per row, extra columns by the
    session's policy (`extra`: "error" or "ignore"; a null-mask column is always refused).

    A request is data, never a path: a string, bytes or path-like is refused before anything
    touches the file system (a Session may sit behind a network endpoint)."""
    if isinstance(rows, (str, bytes, bytearray, os.PathLike)):
        raise DataError(
            f"{SOURCE}: is a {type(rows).__name__}, not rows or columns; a request is a list of "
            "row dicts, one row dict, a dict of columns, a pandas DataFrame or a pyarrow Table, "
            "and is never read as a file path. To serve a CSV or Parquet file, call "
            "Session.transform_file(path) or Session.predict_file(path)"
        )
    rows = as_rows(rows)
    names = _column_names(rows)
    if names is not None:
        _check_extra(names, inputs, extra, "")
        return
    if not isinstance(rows, (list, tuple)):
        return
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise DataError(
                f"{SOURCE}: row {i} is a {type(row).__name__}, not a mapping of column -> value; "
                "send one dict per row"
            )
        missing = [c for c in inputs if c.name not in row]
        if missing:
            declared = {c.name for c in inputs}
            strays = [str(k) for k in row if k not in declared]
            close = difflib.get_close_matches(missing[0].name, strays, n=1)
            typo = f" (the row has {close[0]!r}: a typo?)" if close else ""
            raise DataError(
                f"{SOURCE}: row {i}: missing column {missing[0].name!r}{typo}, expected "
                f"{missing[0].dtype}{'' if missing[0].nullable else ' (non-nullable)'}; send "
                f"every declared column ({', '.join(_declared(c) for c in inputs)}) in every "
                "row, with None for a null"
            )
        _check_extra(list(row), inputs, extra, f"row {i}: ")


# ----------------------------------------------------------------------------- one-row fast path

INT64_LIMIT = 2**63
FLOAT_EXACT_INT = 2**53  # every int of at most this magnitude is a float64 exactly
Convert = Any  # (value) -> (feed value, is null) or None when the general path must decide
_NOT_FAST = None


def _float_value(nullable: bool) -> Convert:
    def convert(value: Any) -> tuple[float, bool] | None:
        kind = type(value)
        if kind is float and (value == value or nullable):  # NaN: null, if the column may be
            return value, False
        if kind is int and -FLOAT_EXACT_INT <= value <= FLOAT_EXACT_INT:
            return float(value), False
        return (float("nan"), False) if value is None and nullable else _NOT_FAST

    return convert


def _exact_type(kind: type, placeholder: Any, nullable: bool, check: Any = None) -> Convert:
    def convert(value: Any) -> tuple[Any, bool] | None:
        if type(value) is kind and (check is None or check(value)):
            return value, False
        return (placeholder, True) if value is None and nullable else _NOT_FAST

    return convert


def _int64(value: int) -> bool:
    return -INT64_LIMIT <= value < INT64_LIMIT


def _clean_text(value: str) -> bool:
    """No NUL, valid UTF-8 (no lone surrogate) and NFC: what to_feed requires of text."""
    if "\x00" in value:
        return False
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return unicodedata.is_normalized("NFC", value)


def _instant(value: int) -> bool:
    return FIRST_INSTANT <= value <= LAST_INSTANT


def _never(value: Any) -> bool:
    return False


def row_converters(
    inputs: Sequence[InputColumn], timestamp_unit: str | None = None
) -> tuple[tuple[InputColumn, Convert], ...]:
    """Per declared column, a check and conversion of one plain Python value, precompiled.

    A converter returns (value, is null) for a value the general path (featuredsl.ingest.
    to_feed) accepts and converts to the same feed value, and None for anything else (a
    datetime, a numpy scalar, a bad value): the general path then converts it or raises its
    DataError naming the column and row. A bare integer timestamp is taken here only when the
    session reads them as microseconds (`timestamp_unit="us"`) and it lies in the years 1-9999;
    any other unit, or none (a refusal), is the general path's."""
    instant = _instant if timestamp_unit == "us" else _never
    table: dict[DType, Any] = {
        DType.FLOAT: lambda c: _float_value(c.nullable),
        DType.INT: lambda c: _exact_type(int, 0, c.nullable, _int64),
        DType.TIMESTAMP: lambda c: _exact_type(int, 0, c.nullable, instant),
        DType.BOOL: lambda c: _exact_type(bool, False, c.nullable),
        DType.STRING: lambda c: _exact_type(str, "", c.nullable, _clean_text),
    }
    return tuple((column, table[column.dtype](column)) for column in inputs)


FEED_DTYPE = {
    DType.FLOAT: np.float64,
    DType.INT: np.int64,
    DType.TIMESTAMP: np.int64,
    DType.BOOL: np.bool_,
    DType.STRING: object,
}


def fast_row_feed(
    row: Any, converters: tuple[tuple[InputColumn, Convert], ...], names: frozenset[str]
) -> Feed | None:
    """The feed of a one-row request (a dict of plain values with exactly the declared columns),
    or None when the request needs the general path (another shape, another value type, an
    extra or missing column, a bad value). The feed equals `to_feed([row], ...)`."""
    if type(row) is not dict or len(row) != len(names) or not names.issuperset(row):
        return None
    feed: Feed = {}
    for column, convert in converters:
        converted = convert(row[column.name])
        if converted is None:
            return None
        value, null = converted
        feed[column.name] = np.array([value], dtype=FEED_DTYPE[column.dtype])
        if column.mask_name is not None:
            feed[column.mask_name] = np.array([null])
    return feed


def fast_events_feed(
    source: EventSource,
    per_row: Sequence[Any],
    converters: tuple[tuple[InputColumn, Convert], ...],
    names: frozenset[str],
) -> Feed | None:
    """One event source's request encoding from per-row lists of plain event dicts with
    exactly the declared columns, in event-time order; None when any event needs the general
    path (featuredsl.ingest.events.events_feed), which converts it or names the problem. The
    feed equals the general path's."""
    lengths = []
    events: list[Any] = []
    for listed in per_row:
        if type(listed) is not list:
            return None
        lengths.append(len(listed))
        events.extend(listed)
    for event in events:
        if type(event) is not dict or len(event) != len(names) or not names.issuperset(event):
            return None
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    feed: Feed = {source.offsets_name: offsets}
    for column, convert in converters:
        converted = [convert(event[column.name]) for event in events]
        if None in converted:
            return None
        name = source.column_name(column.name)
        feed[name] = np.array([value for value, _ in converted], dtype=FEED_DTYPE[column.dtype])
        if column.mask_name is not None:
            feed[contract_mask(name)] = np.array([null for _, null in converted], dtype=bool)
    if first_out_of_order(feed[source.column_name(source.time)], offsets) is not None:
        return None  # out of order: the general path names the row and the event
    return feed


# ----------------------------------------------------------------------------- the session


class Session:
    """Serve a build directory (features only) or a bundle (features + model), validated.

    Every request is checked before onnxruntime sees it: columns present and typed as declared,
    nulls only in nullable columns, timestamps UTC (int64 microseconds or tz-aware), text in
    Unicode NFC without U+0000, row count within `max_rows`, and, for a spec declaring as-of
    times, no value from the future and none older than an `else refuse` budget
    (featuredsl.runtime.freshness); a bad request is a DataError naming the column, the row and
    the expected type (or the age). A request is data (rows, a DataFrame, a
    dict of columns), never a path: files go through `transform_file` / `predict_file`. A request is a list of
    row dicts, one row dict (one row), a dict of columns, a pandas or polars DataFrame or a
    pyarrow Table.

    Args:
        path: a build directory or a bundle .onnx file; its integrity is checked on open
            (sha256 of the module and graph against the manifest, fingerprints).
        log: a SQLite serving-log path; every call is logged with its request id
            (`featuredsl replay` recomputes logged calls with the training module).
        build: a build directory the bundle must have been made from (fingerprint checked).
        sample_rate: the share of calls logged (0..1, by request id).
        max_rows: refuse larger requests.
        extra: what a request's undeclared columns get: "error" (the default: a misspelt or
            unexpected column is a DataError naming it) or "ignore" (dropped, e.g. ids a
            client always sends).
        timestamp_unit: the unit of bare integers in timestamp columns of requests ("s",
            "ms", "us", "ns"); without it they are refused, never read in a guessed unit.

    Raises:
        ArtifactError: the file is not a featuredsl build or bundle, or fails its checks.
    """

    def __init__(
        self,
        path: str | Path,
        log: str | Path | None = None,
        *,
        build: str | Path | None = None,
        sample_rate: float = 1.0,
        max_rows: int | None = None,
        extra: str = "error",
        timestamp_unit: str | None = None,
    ) -> None:
        if extra not in EXTRA_POLICIES:
            raise ValueError(f"extra must be 'error' or 'ignore', not {extra!r}")
        self.extra = extra
        self.timestamp_unit = timestamp_unit
        self.served = open_served(path)
        self.max_rows = max_rows
        if build is not None:
            self._check_pair(build)
        self.ort_session = _ort_session(self.served.onnx_path)
        _check_graph_inputs(
            self.ort_session, self.inputs, self.served.onnx_path, self.served.event_sources
        )
        self.output_names = tuple(o.name for o in self.ort_session.get_outputs())
        self.model_outputs = tuple(n for n in self.output_names if n != FEATURES)
        self._row_converters = row_converters(self.inputs, timestamp_unit)
        self._names = frozenset(c.name for c in self.inputs)
        self._event_converters = {
            source.name: (
                row_converters(source.columns, timestamp_unit),
                frozenset(c.name for c in source.columns),
            )
            for source in self.served.event_sources
        }
        self._logged: Any = None
        if log is not None:
            self._logged = self._open_log(log, sample_rate)

    # -- the contract

    @property
    def fingerprint(self) -> str:
        """The served features' fingerprint (sha256 hex of canonical spec + constants)."""
        return self.served.fingerprint

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The columns of the `features` output, in order."""
        return self.served.feature_names

    @property
    def inputs(self) -> tuple[InputColumn, ...]:
        """The request schema: `InputColumn(name, dtype, nullable)` per declared column."""
        return self.served.inputs

    def _check_pair(self, build: str | Path) -> None:
        from featuredsl.artifact.load import load

        paired = load(build)
        if paired.fingerprint != self.fingerprint:
            raise ArtifactError(
                f"{self.served.onnx_path}: serves features {self.fingerprint[:16]}, but the "
                f"paired build {build} has {paired.fingerprint[:16]}; they come from different "
                "specs or training data"
            )

    def _open_log(self, log: str | Path, sample_rate: float) -> Any:
        from featuredsl.monitor.serving_log import LoggedSession

        untyped = [
            o.name for o in self.ort_session.get_outputs() if not o.type.startswith("tensor")
        ]
        if untyped:
            raise ArtifactError(
                f"{self.served.onnx_path}: output(s) {untyped} are not tensors and cannot be "
                "logged; export classifiers without ZipMap (skl2onnx option zipmap=False)"
            )
        return LoggedSession(
            self.ort_session,
            log,
            self.fingerprint,
            sample_rate,
            feature_names=self.feature_names,
        )

    # -- requests

    def validate(self, rows: Any, *, fingerprint: str | None = None) -> Feed:
        """The feed onnxruntime will get; DataError (column, row) for anything that does not fit."""
        if fingerprint is not None and fingerprint != self.fingerprint:
            if len(fingerprint) < len(self.fingerprint) and self.fingerprint.startswith(
                fingerprint
            ):
                raise DataError(
                    f"{SOURCE}: fingerprint {fingerprint!r} is only a prefix of the one this "
                    f"session serves; send the full {len(self.fingerprint)}-character fingerprint "
                    "(manifest.json's `fingerprint`)"
                )
            raise DataError(
                f"{SOURCE}: was prepared for features {fingerprint[:16]}, but this session "
                f"serves {self.fingerprint[:16]}; route it to the matching model version"
            )
        per_source: dict[str, list[Any]] = {}
        one = rows  # a one-row request takes the precompiled per-column checks
        if self.served.event_sources:  # window aggregates: each row carries its events
            rows, per_source = split_events(rows, self.served.event_sources)
            one = rows[0] if type(rows) is list and len(rows) == 1 else None
        feed = fast_row_feed(one, self._row_converters, self._names)
        if feed is None:
            check_request_shape(rows, self.inputs, self.extra)
            feed = to_feed(
                as_rows(rows),
                self.inputs,
                source=SOURCE,
                extra=self.extra,
                timestamp_unit=self.timestamp_unit,
            )
        self._check_rows(feed_length(feed))
        if self.served.event_sources:
            self._add_events(feed, per_source)
        if self.served.freshness is not None:
            check_freshness(feed, self.served.freshness, SOURCE)
        return feed

    def _add_events(self, feed: Feed, per_source: dict[str, list[Any]]) -> None:
        """Each event source's per-row events in the request encoding (featuredsl.ingest.
        events), added to the rows' feed: plain event dicts take precompiled checks."""
        check_rows(per_source, feed_length(feed))
        for source in self.served.event_sources:
            converters, names = self._event_converters[source.name]
            events = per_source.get(source.name)
            if events is None:
                raise DataError(f"{SOURCE}: no events for event source {source.name!r}")
            fast = fast_events_feed(source, events, converters, names)
            keys = feed[source.key]
            feed.update(fast or events_feed(source, events, self.timestamp_unit, keys))

    def _check_rows(self, rows_in: int) -> None:
        if self.max_rows is not None and rows_in > self.max_rows:
            raise DataError(
                f"{SOURCE}: has {rows_in} rows, more than this session's max_rows={self.max_rows}"
            )

    def run_feed(self, feed: Feed, *, request_id: str | None = None) -> dict[str, Any]:
        """Run an already validated feed; every output by name."""
        try:
            if self._logged is not None:
                outputs = self._logged.run(list(self.output_names), feed, request_id=request_id)
            else:
                outputs = self.ort_session.run(list(self.output_names), feed)
        except FeatureDSLError:
            raise
        except Exception as err:  # validation should make this unreachable: say so, no traceback
            raise ArtifactError(
                f"{self.served.onnx_path}: onnxruntime failed on a validated request ({err})"
            ) from None
        return dict(zip(self.output_names, outputs, strict=True))

    def run(
        self, rows: Any, *, request_id: str | None = None, fingerprint: str | None = None
    ) -> dict[str, Any]:
        """Every output (the model's and `features`) for a list of row dicts, a DataFrame, a
        pyarrow table or a dict of columns."""
        return self.run_feed(self.validate(rows, fingerprint=fingerprint), request_id=request_id)

    def predict(
        self, rows: Any, *, request_id: str | None = None, fingerprint: str | None = None
    ) -> dict[str, Any]:
        """The model's outputs (e.g. label and probabilities) by name."""
        self._check_model()
        outputs = self.run(rows, request_id=request_id, fingerprint=fingerprint)
        return {name: outputs[name] for name in self.model_outputs}

    def _check_model(self) -> None:
        if not self.model_outputs:
            raise ArtifactError(
                f"{self.served.onnx_path}: serves features only (no model); use transform(), "
                "or bundle a model with `featuredsl bundle`"
            )

    def transform(
        self, rows: Any, *, request_id: str | None = None, fingerprint: str | None = None
    ) -> np.ndarray:
        """The features [N, F] float64, in the order of `feature_names`."""
        result: np.ndarray = self.run(rows, request_id=request_id, fingerprint=fingerprint)[
            FEATURES
        ]
        return result

    # -- files: an explicit call, never a request

    def read_file(self, path: str | Path) -> Feed:
        """The feed of a CSV or Parquet file (featuredsl.ingest.read_table), for batch scoring;
        columns the spec does not declare (a label, an id) are ignored. Requests never come
        here: a request that is a string or a path is refused."""
        feed = to_feed(
            read_table(path, self.inputs),
            self.inputs,
            source=str(path),
            timestamp_unit=self.timestamp_unit,
        )
        self._check_rows(feed_length(feed))
        if self.served.freshness is not None:
            check_freshness(feed, self.served.freshness, str(path))
        return feed

    def transform_file(self, path: str | Path, *, request_id: str | None = None) -> np.ndarray:
        """transform() of the rows of a CSV or Parquet file."""
        result: np.ndarray = self.run_feed(self.read_file(path), request_id=request_id)[FEATURES]
        return result

    def predict_file(self, path: str | Path, *, request_id: str | None = None) -> dict[str, Any]:
        """predict() of the rows of a CSV or Parquet file."""
        self._check_model()
        outputs = self.run_feed(self.read_file(path), request_id=request_id)
        return {name: outputs[name] for name in self.model_outputs}

    # -- lifetime

    def close(self) -> None:
        """Flush and close the serving log (if any); the Session is also a context manager."""
        if self._logged is not None:
            self._logged.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
