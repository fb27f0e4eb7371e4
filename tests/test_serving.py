"""featuredsl.runtime.serving.Session: every malformed request is a DataError naming its column and row,
raised before onnxruntime sees anything; valid requests in any form give the same outputs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import pyarrow as pa
import pytest
from test_bundle import churn_csv, churn_fitted, churn_spec, linear_model

from featuredsl.artifact.load import load
from featuredsl.compiler.boundaries import feature_bounds
from featuredsl.errors import ArtifactError, DataError
from featuredsl.ingest import read_table
from featuredsl.monitor.replay import replay
from featuredsl.monitor.serving_log import read_log
from featuredsl.parity.compare import compare
from featuredsl.runtime.bundle import bundle
from featuredsl.runtime.serving import Session

UTC = dt.timezone.utc


def good_row(i: int = 0) -> dict[str, Any]:
    return {
        "age": 31.0 + i,
        "income": None if i % 2 else 52_000.5,
        "clicks_7d": 3 + i,
        "impressions_7d": 120,
        "country": ["DE", "FR", "US"][i % 3],
        "plan": None if i == 1 else "pro",
        "event_ts": dt.datetime(2024, 8, 1, 12 + i, 30, tzinfo=UTC),
        "signup_ts": dt.datetime(2023, 1, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    }


def rows(n: int = 3, **changes: Any) -> list[dict[str, Any]]:
    """n good rows; changes={"<row>:<column>": value} edits a cell ("-" as value drops it)."""
    out = [good_row(i) for i in range(n)]
    for key, value in changes.items():
        row, column = key.split(":")
        if isinstance(value, str) and value == "-":
            del out[int(row)][column]
        else:
            out[int(row)][column] = value
    return out


def frame(**columns: Any) -> pd.DataFrame:
    df = pd.DataFrame(rows(3))
    for name, value in columns.items():
        df[name] = value
    return df


def columns(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {k: [r[k] for r in rows(3)] for k in good_row()}
    data.update(changes)
    return data


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serving") / "churn"
    churn_fitted().save(out)
    return out


@pytest.fixture(scope="module")
def bundle_path(build_dir: Path) -> Path:
    width = len(churn_fitted().feature_names)
    model = build_dir.parent / "linear.onnx"
    model.write_bytes(linear_model(width).SerializeToString())
    return bundle(build_dir, model, build_dir.parent / "served.onnx", assume_order=True).path


class Spy:
    """Stands in for InferenceSession.run and counts the calls that reached it."""

    def __init__(self, run: Callable[..., Any]) -> None:
        self.calls = 0
        self._run = run

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self._run(*args, **kwargs)


@pytest.fixture(scope="module")
def spied(bundle_path: Path) -> tuple[Session, Spy]:
    session = Session(bundle_path)
    spy = Spy(session.ort_session.run)
    session.ort_session.run = spy
    return session, spy


# ----------------------------------------------------------------------------- malformed requests

NAIVE = dt.datetime(2024, 8, 1, 12, 0)

# (id, request, fingerprint, the words the message must contain: column, row, what is wrong)
MALFORMED: list[tuple[str, Any, str | None, list[str]]] = [
    (
        "missing column in one row",
        rows(**{"1:country": "-"}),
        None,
        ["row 1", "missing column 'country'"],
    ),
    (
        "missing column in every row",
        [{k: v for k, v in r.items() if k != "age"} for r in rows()],
        None,
        ["row 0", "'age'"],
    ),
    (
        "extra column in one row",
        rows(**{"2:churned": True}),
        None,
        ["row 2", "unexpected column 'churned'"],
    ),
    (
        "extra column in a frame",
        frame(churned=[True, False, True]),
        None,
        ["'churned'", "unexpected column"],
    ),
    (
        "null mask sent by the client",
        rows(**{"0:plan.is_null": True}),
        None,
        ["row 0", "'plan.is_null'"],
    ),
    (
        "int column given text",
        rows(**{"1:clicks_7d": "3"}),
        None,
        ["'clicks_7d', row 1", "str '3'"],
    ),
    (
        "int column given a fraction",
        rows(**{"2:clicks_7d": 3.5}),
        None,
        ["'clicks_7d', row 2", "fractional"],
    ),
    (
        "int column given a bool",
        rows(**{"0:impressions_7d": True}),
        None,
        ["'impressions_7d', row 0", "bool"],
    ),
    (
        "int beyond int64",
        rows(**{"1:clicks_7d": 2**70}),
        None,
        ["'clicks_7d', row 1", "int64 range"],
    ),
    ("float column given text", rows(**{"2:age": "31"}), None, ["'age', row 2", "str '31'"]),
    (
        "float column given an inexact int",
        rows(**{"1:income": 2**60 + 1}),
        None,
        ["'income', row 1", "not exactly representable"],
    ),
    ("string column given a number", rows(**{"0:country": 7}), None, ["'country', row 0", "int 7"]),
    (
        "null in a non-nullable string",
        rows(**{"2:country": None}),
        None,
        ["'country', row 2", "non-nullable"],
    ),
    (
        "NaN in a non-nullable int",
        rows(**{"1:clicks_7d": float("nan")}),
        None,
        ["'clicks_7d', row 1", "non-nullable"],
    ),
    (
        "null in a non-nullable int",
        rows(**{"0:impressions_7d": None}),
        None,
        ["'impressions_7d', row 0", "non-nullable"],
    ),
    (
        "naive datetime",
        rows(**{"1:event_ts": NAIVE}),
        None,
        ["'event_ts'", "row 1", "time-zone-naive"],
    ),
    (
        "naive numpy datetime64",
        rows(**{"2:signup_ts": np.datetime64("2024-01-01T00:00")}),
        None,
        ["'signup_ts'", "row 2", "naive"],
    ),
    (
        "naive datetimes in a frame",
        frame(event_ts=pd.to_datetime(["2024-08-01"] * 3)),
        None,
        ["'event_ts'", "row 0", "naive"],
    ),
    (
        "timestamp as text",
        rows(**{"0:event_ts": "2024-08-01T12:00:00Z"}),
        None,
        ["'event_ts', row 0", "strings are not parsed"],
    ),
    (
        "timestamps mixing datetimes and ints",
        rows(**{"2:event_ts": 1_700_000_000_000_000}),
        None,
        ["'event_ts', row 2", "mixes datetimes and integers"],
    ),
    (
        "sub-microsecond timestamp",
        rows(**{"1:signup_ts": pd.Timestamp("2024-01-01 00:00:00.000000001", tz="UTC")}),
        None,
        ["'signup_ts'", "row 1", "sub-microsecond"],
    ),
    ("bad UTF-8 bytes", rows(**{"1:country": b"\xff\xfeDE"}), None, ["'country', row 1", "bytes"]),
    ("NUL in text", rows(**{"2:country": "D\x00E"}), None, ["'country', row 2", "NUL"]),
    ("lone surrogate", rows(**{"0:plan": "pro\ud800"}), None, ["'plan', row 0", "lone surrogate"]),
    (
        "a list where a value belongs",
        rows(**{"1:age": [31.0, 32.0]}),
        None,
        ["'age', row 1", "list"],
    ),
    (
        "a dict where a value belongs",
        rows(**{"2:plan": {"name": "pro"}}),
        None,
        ["'plan', row 2", "dict"],
    ),
    ("a 2-D column", columns(age=np.ones((3, 2))), None, ["'age'", "2-D array"]),
    (
        "columns of different lengths",
        columns(income=[1.0, 2.0]),
        None,
        ["'income': 2", "different lengths"],
    ),
    (
        "one row mixing values and columns",
        {**good_row(), "age": [31.0, 32.0]},
        None,
        ["column 'income'", "single float", "column 'age' holds a column of values"],
    ),
    (
        "one row with an extra column",
        {**good_row(), "churned": True},
        None,
        ["unexpected column 'churned'", "extra='ignore'"],
    ),
    (
        "a null mask in a frame",
        frame(**{"plan.is_null": [False, True, False]}),
        None,
        ["'plan.is_null'", "null mask", "with None for a null"],
    ),
    ("a row that is not a dict", [list(good_row().values())], None, ["row 0 is a list"]),
    (
        "arrow column of the wrong type",
        pa.table(columns(clicks_7d=["1", "2", "3"])),
        None,
        ["'clicks_7d'", "row 0", "str"],
    ),
    (
        "duplicate columns in a frame",
        pd.concat([frame(), frame()[["age"]]], axis=1),
        None,
        ["duplicate column", "'age'"],
    ),
    (
        "wrong fingerprint of a paired client",
        rows(),
        "f" * 64,
        ["prepared for features ffffffffffffffff"],
    ),
]


@pytest.mark.parametrize(
    ("what", "request_", "fingerprint", "needles"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_request_is_named_and_never_reaches_onnxruntime(
    spied: tuple[Session, Spy],
    what: str,
    request_: Any,
    fingerprint: str | None,
    needles: list[str],
) -> None:
    session, spy = spied
    before = spy.calls
    with pytest.raises(DataError) as err:
        session.predict(request_, fingerprint=fingerprint)
    message = str(err.value)
    assert message.startswith("request"), message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    assert "Traceback" not in message
    assert spy.calls == before, f"{what}: reached onnxruntime"


def test_table_is_large_enough_and_the_spy_is_wired(spied: tuple[Session, Spy]) -> None:
    assert len(MALFORMED) >= 25
    session, spy = spied
    before = spy.calls
    session.predict(rows())
    assert spy.calls == before + 1


def test_too_many_rows(bundle_path: Path) -> None:
    session = Session(bundle_path, max_rows=2)
    with pytest.raises(DataError, match="has 3 rows, more than this session's max_rows=2"):
        session.predict(rows(3))


# ----------------------------------------------------------------------------- valid requests


def test_every_request_form_gives_the_same_outputs(bundle_path: Path) -> None:
    session = Session(bundle_path)
    reference = session.run(rows())
    forms = [pd.DataFrame(rows()), columns(), pa.table(columns()), tuple(rows())]
    for form in forms:
        out = session.run(form)
        for name, value in reference.items():
            assert np.array_equal(out[name], value), (type(form).__name__, name)
    assert set(session.predict(rows())) == {"score"}


def test_a_single_row_dict_is_one_row(bundle_path: Path) -> None:
    session = Session(bundle_path)
    for i in range(3):
        one = session.run(good_row(i))
        listed = session.run([good_row(i)])
        for name, value in listed.items():
            assert len(value) == 1
            assert np.array_equal(one[name], value), name


def test_extra_columns_follow_the_sessions_policy(bundle_path: Path) -> None:
    strict = Session(bundle_path)
    assert strict.extra == "error"  # the documented default
    lenient = Session(bundle_path, extra="ignore")
    reference = strict.run(rows())
    extra_rows = [
        {**row, "request_id": f"r{i}", "churned": i % 2 == 0} for i, row in enumerate(rows())
    ]
    forms = [
        extra_rows,
        pd.DataFrame(extra_rows),
        {**columns(), "request_id": ["a", "b", "c"]},
        pa.table({**columns(), "request_id": ["a", "b", "c"]}),
    ]
    for form in forms:
        with pytest.raises(DataError, match=r"unexpected column .*extra='ignore'"):
            strict.run(form)
        out = lenient.run(form)
        for name, value in reference.items():
            assert np.array_equal(out[name], value), (type(form).__name__, name)
    assert np.array_equal(lenient.run(extra_rows[0])["score"], reference["score"][:1])
    # A null mask is the graph's own encoding, never a request column, whatever the policy.
    with pytest.raises(DataError, match=r"'plan\.is_null' is the serving graph's own null mask"):
        lenient.run(rows(**{"1:plan.is_null": True}))
    with pytest.raises(ValueError, match="extra must be 'error' or 'ignore', not 'drop'"):
        Session(bundle_path, extra="drop")


def test_a_missing_column_names_the_row_and_the_expected_type(bundle_path: Path) -> None:
    with pytest.raises(DataError) as err:
        Session(bundle_path).run(rows(**{"2:clicks_7d": "-"}))
    message = str(err.value)
    assert "row 2: missing column 'clicks_7d', expected int (non-nullable)" in message
    assert "plan (string?)" in message  # the declared inputs with their types


def test_features_match_the_training_module(build_dir: Path, bundle_path: Path) -> None:
    data = read_table(churn_csv(), churn_spec().inputs).slice(0, 300)
    served = Session(bundle_path).transform(data.to_pandas().drop(columns=["churned"]))
    expected = load(build_dir).transform(data)
    fitted = churn_fitted()
    bounds = feature_bounds(fitted.program.features)
    assert compare(fitted.feature_names, expected, served, bounds).ok  # docs/parity.md


def test_an_empty_request_gives_empty_outputs(bundle_path: Path) -> None:
    out = Session(bundle_path).predict([])
    assert out["score"].shape == (0, 1)


def test_a_build_directory_serves_features_only(build_dir: Path) -> None:
    session = Session(build_dir)
    assert session.transform(rows()).shape == (3, len(churn_fitted().feature_names))
    with pytest.raises(ArtifactError, match="serves features only"):
        session.predict(rows())


# ----------------------------------------------------------------------------- artifacts


def test_a_bundle_paired_with_another_build_is_refused(bundle_path: Path, tmp_path: Path) -> None:
    other = churn_spec().fit(read_table(churn_csv(), churn_spec().inputs).slice(0, 500))
    other.save(tmp_path / "other")
    with pytest.raises(ArtifactError, match=r"paired build .* has"):
        Session(bundle_path, build=tmp_path / "other")


def test_the_matching_build_is_accepted(bundle_path: Path, build_dir: Path) -> None:
    assert Session(bundle_path, build=build_dir).fingerprint == churn_fitted().fingerprint


def test_a_bare_feature_graph_file_is_refused(build_dir: Path) -> None:
    with pytest.raises(ArtifactError, match="serve its build directory"):
        Session(build_dir / "features.onnx")


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no such build directory or bundle"):
        Session(tmp_path / "nope.onnx")


def test_a_bundle_whose_graph_contradicts_its_schema_is_refused(
    bundle_path: Path, tmp_path: Path
) -> None:
    model = onnx.load(str(bundle_path))
    for prop in model.metadata_props:
        if prop.key == "featuredsl.inputs":
            prop.value = prop.value.replace('"plan"', '"plan_v2"')
    path = tmp_path / "tampered.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ArtifactError, match="do not match its schema"):
        Session(path)


# ----------------------------------------------------------------------------- the serving log


def test_logged_requests_replay_clean_against_the_training_module(
    bundle_path: Path, build_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "serving.db"
    data = read_table(churn_csv(), churn_spec().inputs).to_pandas().drop(columns=["churned"])
    with Session(bundle_path, log=log) as session:
        spy = Spy(session.ort_session.run)
        session.ort_session.run = spy
        for i, start in enumerate(range(0, 200, 40)):
            session.predict(data.iloc[start : start + 40], request_id=f"req-{i}")
        with pytest.raises(DataError):
            session.predict(rows(**{"0:country": None}), request_id="bad")
    assert spy.calls == 5  # the bad request was neither run nor logged
    records = list(read_log(log))
    assert [r.request_id for r in records] == [f"req-{i}" for i in range(5)]
    assert set(records[0].outputs) == {"score", "features"}
    artifacts = load(build_dir)
    report = replay(artifacts.transform_feed, artifacts.fingerprint, artifacts.feature_names, log)
    assert report.rows == 200 and not report.failed


def test_a_misspelt_request_column_names_the_missing_one(build_dir: Path) -> None:
    session = Session(build_dir)
    row = rows(1)[0]
    row["agee"] = row.pop("age")
    with pytest.raises(DataError, match=r"missing column 'age' \(the row has 'agee': a typo\?\)"):
        session.run([row])
    data = columns()
    data["agee"] = data.pop("age")
    with pytest.raises(DataError, match=r"'agee' \(did you mean 'age', which is missing\?\)"):
        session.run(data)


def _epoch(row: dict[str, Any], unit: int) -> dict[str, Any]:
    """`row` with its timestamps as bare integers counting `unit` microseconds."""
    out = dict(row)
    for name in ("event_ts", "signup_ts"):
        micros = (out[name] - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)
        out[name] = micros // unit
    return out


def test_bare_integer_timestamps_are_refused_unless_the_unit_is_stated(bundle_path: Path) -> None:
    """Epoch seconds taken as microseconds would serve every request from January 1970."""
    reference = Session(bundle_path).run(rows())
    with pytest.raises(DataError, match=r"'event_ts' holds bare integers .*timestamp_unit"):
        Session(bundle_path).run([_epoch(r, 10**6) for r in rows()])
    for unit, per in (("s", 10**6), ("ms", 10**3), ("us", 1)):
        session = Session(bundle_path, timestamp_unit=unit)
        out = session.run([_epoch(r, per) for r in rows()])
        for name, value in reference.items():
            assert np.array_equal(out[name], value), (unit, name)
    with pytest.raises(DataError, match=r"'event_ts', row 0: .* is not an instant in the years"):
        Session(bundle_path, timestamp_unit="s").run([_epoch(r, 1) for r in rows()])


def test_a_fingerprint_prefix_is_named_as_a_prefix(bundle_path: Path) -> None:
    session = Session(bundle_path)
    with pytest.raises(DataError, match=r"only a prefix .* send the full 64-character"):
        session.run(rows(), fingerprint=session.fingerprint[:16])
    assert set(session.run(rows(), fingerprint=session.fingerprint)) == set(session.run(rows()))
