"""User data -> feed: every source kind, every rule, every error names column and row."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featuredsl.compiler.ir import InputColumn
from featuredsl.compiler.types import DType
from featuredsl.errors import DataError
from featuredsl.ingest import feed_length, read_table, take, to_feed

FLOAT, INT, BOOL, STR, TS = DType.FLOAT, DType.INT, DType.BOOL, DType.STRING, DType.TIMESTAMP
UTC = dt.timezone.utc
JAN1 = 1_609_459_200_000_000  # 2021-01-01T00:00:00Z in microseconds


def col(name: str, dtype: DType, nullable: bool = False) -> InputColumn:
    return InputColumn(name, dtype, nullable)


ALL = [
    col("x", FLOAT, True),
    col("n", INT),
    col("m", INT, True),
    col("b", BOOL, True),
    col("s", STR, True),
    col("ts", TS, True),
]


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.5, None, -2.0],
            "n": [1, 2, 3],
            "m": pd.array([7, None, 9], dtype="Int64"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "s": pd.Series(["a", None, "00123"], dtype=object),
            "ts": pd.to_datetime(
                ["2021-01-01T01:00:00+01:00", None, "2021-01-01T00:00:01Z"], utc=True
            ),
            "unused": ["p", "q", "r"],
        }
    )


def expect_error(data, inputs, *fragments: str, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        to_feed(data, inputs, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def check_all(feed: dict[str, np.ndarray]) -> None:
    assert feed["x"].dtype == np.float64 and np.isnan(feed["x"][1]) and feed["x"][0] == 1.5
    assert "x.is_null" not in feed  # floats carry null as NaN
    assert feed["n"].dtype == np.int64 and feed["n"].tolist() == [1, 2, 3]
    assert "n.is_null" not in feed  # non-nullable: no mask
    assert feed["m"].dtype == np.int64 and feed["m"].tolist() == [7, 0, 9]
    assert feed["m.is_null"].tolist() == [False, True, False]
    assert feed["b"].dtype == np.bool_ and feed["b"].tolist() == [True, False, False]
    assert feed["b.is_null"].tolist() == [False, True, False]
    assert feed["s"].dtype == object and feed["s"].tolist() == ["a", "", "00123"]
    assert all(type(v) is str for v in feed["s"])
    assert feed["s.is_null"].tolist() == [False, True, False]
    assert feed["ts"].dtype == np.int64 and feed["ts"].tolist() == [JAN1, 0, JAN1 + 1_000_000]
    assert feed["ts.is_null"].tolist() == [False, True, False]
    assert feed_length(feed) == 3


# ----------------------------------------------------------------------------- source kinds


def test_dataframe_with_nullable_extension_dtypes():
    check_all(to_feed(frame(), ALL))


def test_feed_holds_exactly_the_declared_columns_in_order():
    feed = to_feed(frame(), ALL)
    assert list(feed) == [
        "x",
        "n",
        "m",
        "m.is_null",
        "b",
        "b.is_null",
        "s",
        "s.is_null",
        "ts",
        "ts.is_null",
    ]


def test_pyarrow_table_and_record_batch():
    table = pa.Table.from_pandas(frame(), preserve_index=False)
    check_all(to_feed(table, ALL))
    check_all(to_feed(table.to_batches()[0], ALL))


def test_pyarrow_chunked_and_dictionary_columns():
    strings = pa.chunked_array([pa.array(["a", None]), pa.array(["a"])]).dictionary_encode()
    table = pa.table({"s": strings, "n": pa.chunked_array([[1], [2, 3]])})
    feed = to_feed(table, [col("s", STR, True), col("n", INT)])
    assert feed["s"].tolist() == ["a", "", "a"] and feed["s.is_null"].tolist() == [
        False,
        True,
        False,
    ]
    assert feed["n"].tolist() == [1, 2, 3]


def test_dict_of_numpy_lists_series_and_arrow_arrays():
    data = {
        "x": np.array([1.5, np.nan, -2.0]),
        "n": [1, 2, 3],
        "m": pd.Series([7, None, 9], dtype="Int64"),
        "b": pa.array([True, None, False]),
        "s": ["a", None, "00123"],
        "ts": [
            dt.datetime(2021, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            None,
            dt.datetime(2021, 1, 1, 0, 0, 1, tzinfo=UTC),
        ],
    }
    check_all(to_feed(data, ALL))


def test_list_of_row_dicts_for_serving():
    rows = [
        {"x": 1.5, "n": 1, "m": 7, "b": True, "s": "a", "ts": JAN1},
        {"x": None, "n": 2, "m": None, "b": None, "s": None, "ts": None},
        {"x": -2.0, "n": 3, "m": 9, "b": False, "s": "00123", "ts": JAN1 + 1_000_000},
    ]
    check_all(to_feed(rows, ALL, extra="error", timestamp_unit="us"))


def test_empty_request_gives_zero_rows():
    feed = to_feed([], ALL, extra="error")
    assert feed_length(feed) == 0
    assert (
        feed["m"].dtype == np.int64 and feed["s"].dtype == object and feed["x"].dtype == np.float64
    )


def test_pandas_string_dtypes_and_categorical():
    for dtype in ["string", "string[pyarrow]", "category", "str"]:
        data = pd.DataFrame({"s": pd.Series(["a", None, "00123"], dtype=dtype)})
        feed = to_feed(data, [col("s", STR, True)])
        assert feed["s"].tolist() == ["a", "", "00123"], dtype
        assert feed["s.is_null"].tolist() == [False, True, False], dtype


def test_object_column_nulls_none_nan_and_pd_na():
    data = pd.DataFrame({"s": pd.Series(["a", None, np.nan, pd.NA], dtype=object)})
    feed = to_feed(data, [col("s", STR, True)])
    assert feed["s.is_null"].tolist() == [False, True, True, True]
    assert feed["s"].tolist() == ["a", "", "", ""]


def test_numpy_str_scalars_become_python_str():
    feed = to_feed({"s": np.array(["a", "b"])}, [col("s", STR)])
    assert [type(v) for v in feed["s"]] == [str, str]
    feed = to_feed({"s": [np.str_("a")]}, [col("s", STR)])
    assert type(feed["s"][0]) is str


def test_pandas_float64_with_nan_into_nullable_int_column():
    feed = to_feed(pd.DataFrame({"m": [1.0, np.nan, 3.0]}), [col("m", INT, True)])
    assert feed["m"].tolist() == [1, 0, 3] and feed["m.is_null"].tolist() == [False, True, False]


def test_all_missing_float_column_is_null_for_any_nullable_type():
    feed = to_feed(pd.DataFrame({"s": [np.nan, np.nan]}), [col("s", STR, True)])
    assert feed["s.is_null"].tolist() == [True, True]


def test_ints_into_float_column_are_exact():
    feed = to_feed({"x": np.array([1, 2**53, -(2**60)])}, [col("x", FLOAT)])
    assert feed["x"].tolist() == [1.0, 2.0**53, -(2.0**60)]


def test_float32_widens_exactly():
    feed = to_feed({"x": np.array([0.1], dtype=np.float32)}, [col("x", FLOAT)])
    assert feed["x"][0] == float(np.float32(0.1))


def test_pyarrow_backed_pandas_columns():
    data = pd.DataFrame(
        {
            "m": pd.Series([1, None], dtype="int64[pyarrow]"),
            "ts": pd.Series(
                pd.array(
                    [pd.Timestamp("2021-01-01", tz="UTC"), None],
                    dtype="timestamp[us, tz=UTC][pyarrow]",
                )
            ),
        }
    )
    feed = to_feed(data, [col("m", INT, True), col("ts", TS, True)])
    assert feed["m"].tolist() == [1, 0] and feed["m.is_null"].tolist() == [False, True]
    assert feed["ts"].tolist() == [JAN1, 0]


# ----------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_tz_aware_pandas_timestamps_of_any_unit_and_zone(unit):
    berlin = pd.Series(pd.to_datetime(["2021-01-01T01:00:00"]).as_unit(unit)).dt.tz_localize(
        "Europe/Berlin"
    )
    assert to_feed(pd.DataFrame({"ts": berlin}), [col("ts", TS)])["ts"].tolist() == [JAN1]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_arrow_timestamps_with_tz(unit):
    scale = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    arr = pa.array([1_609_459_200 * scale, None], type=pa.timestamp(unit, tz="America/New_York"))
    feed = to_feed(pa.table({"ts": arr}), [col("ts", TS, True)])
    assert feed["ts"].tolist() == [JAN1, 0] and feed["ts.is_null"].tolist() == [False, True]


def test_timestamp_objects_in_object_column_are_converted_to_utc():
    values = pd.Series(
        [
            pd.Timestamp("2021-01-01T09:00:00", tz="Asia/Tokyo"),
            dt.datetime(2020, 12, 31, 19, tzinfo=ZoneInfo("America/New_York")),
            pd.NaT,
        ],
        dtype=object,
    )
    feed = to_feed(pd.DataFrame({"ts": values}), [col("ts", TS, True)])
    assert feed["ts"].tolist() == [JAN1, JAN1, 0]
    assert feed["ts.is_null"].tolist() == [False, False, True]


def test_bare_integer_instants_are_refused_without_a_unit():
    """Epoch seconds passed as plain integers must not land in January 1970 (issue 12)."""
    seconds = np.array([1_609_459_200, 1_609_462_800])
    for data in ({"ts": seconds}, [{"ts": 1_609_459_200}], pa.table({"ts": seconds})):
        message = expect_error(data, [col("ts", TS)], "column 'ts'", "bare integers", "row 0")
        assert "timestamp_unit='s', 'ms', 'us' or 'ns'" in message


@pytest.mark.parametrize(
    ("unit", "scale"), [("s", 10**6), ("ms", 10**3), ("us", 1), ("ns", 10**-3)]
)
def test_bare_integers_read_exactly_in_the_stated_unit(unit: str, scale: float) -> None:
    last = 9_223_372_036_000_000 if unit == "ns" else 253_402_300_799_000_000  # 2262 / 9999
    micros = np.array([JAN1, -1_000_000, 0, last])
    given = micros // 10**6 * 10**6 if unit == "s" else micros
    values = (given // int(scale)) if scale >= 1 else given * 1000
    feed = to_feed({"ts": values}, [col("ts", TS)], timestamp_unit=unit)
    assert feed["ts"].tolist() == given.tolist()
    rows = [{"ts": int(v)} for v in values]
    assert to_feed(rows, [col("ts", TS)], timestamp_unit=unit)["ts"].tolist() == given.tolist()


def test_implausible_instants_name_the_column_row_and_unit():
    # epoch nanoseconds (pandas' int64) stated as seconds: far beyond the year 9999
    nanos = np.array([JAN1 * 1000, JAN1 * 1000 + 1])
    expect_error(
        {"ts": nanos},
        [col("ts", TS)],
        "column 'ts', row 0",
        "years 1-9999",
        "timestamp_unit='s'",
        timestamp_unit="s",
    )
    expect_error(
        {"ts": np.array([0, 2**62])},
        [col("ts", TS)],
        "row 1",
        "years 1-9999",
        timestamp_unit="us",
    )
    expect_error(
        {"ts": np.array([1_001])},
        [col("ts", TS)],
        "row 0",
        "whole number of microseconds",
        timestamp_unit="ns",
    )
    with pytest.raises(ValueError, match="timestamp_unit must be one of"):
        to_feed({"ts": np.array([0])}, [col("ts", TS)], timestamp_unit="sec")


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_numpy_datetime64_of_any_unit_converts_exactly(unit: str) -> None:
    values = np.array(["2021-01-01T00:00:00", "1900-03-01T12:00:01", "NaT"], f"datetime64[{unit}]")
    feed = to_feed({"ts": values}, [col("ts", TS, True)])
    assert feed["ts"].tolist()[:2] == [JAN1, -2_203_847_999_000_000]
    assert feed["ts.is_null"].tolist() == [False, False, True]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_zoned_arrow_and_pandas_timestamps_of_any_unit_convert_exactly(unit: str) -> None:
    arrow = pa.table(
        {
            "ts": pa.array(
                [
                    JAN1
                    // {"s": 10**6, "ms": 1000, "us": 1, "ns": 1}[unit]
                    * ({"ns": 1000}.get(unit, 1))
                ],
                pa.timestamp(unit, "UTC"),
            )
        }
    )
    assert to_feed(arrow, [col("ts", TS)])["ts"].tolist() == [JAN1]
    frame = pd.DataFrame(
        {"ts": pd.Series(["2021-01-01T01:00:00+01:00"]).astype(f"datetime64[{unit}, UTC]")}
    )
    assert to_feed(frame, [col("ts", TS)])["ts"].tolist() == [JAN1]


NAIVE = "holds time-zone-naive timestamps"
LOCALIZE = "tz_localize('UTC')"


def test_naive_pandas_timestamps_rejected():
    data = pd.DataFrame({"ts": pd.to_datetime(["2021-01-01", "2021-01-02"])})
    message = expect_error(data, [col("ts", TS)], "column 'ts' " + NAIVE, LOCALIZE, "row 0")
    assert "timestamp_unit='us'" in message


def test_naive_arrow_and_datetime_objects_rejected():
    expect_error(pa.table({"ts": pa.array([0], type=pa.timestamp("us"))}), [col("ts", TS)], NAIVE)
    naive = [dt.datetime(2021, 1, 1, tzinfo=UTC), dt.datetime(2021, 1, 1)]
    expect_error({"ts": naive}, [col("ts", TS)], NAIVE, "row 1")


def test_sub_microsecond_precision_rejected_not_truncated():
    data = pd.DataFrame(
        {
            "ts": pd.to_datetime(
                ["2021-01-01T00:00:00Z", "2021-01-01T00:00:00.000000001Z"], format="ISO8601"
            )
        }
    )
    expect_error(data, [col("ts", TS)], "column 'ts', row 1", "sub-microsecond", "floor('us')")
    objects = pd.Series([pd.Timestamp("2021-01-01T00:00:00.000000005Z")], dtype=object)
    expect_error({"ts": objects}, [col("ts", TS)], "row 0", "sub-microsecond")


def test_strings_in_timestamp_column_rejected_outside_csv():
    expect_error(
        {"ts": ["2021-01-01T00:00:00Z"]},
        [col("ts", TS)],
        "row 0",
        "expected timestamp",
        "to_datetime",
    )


def test_mixed_datetimes_and_ints_rejected():
    values = [dt.datetime(2021, 1, 1, tzinfo=UTC), JAN1]
    expect_error(
        {"ts": values},
        [col("ts", TS)],
        "row 1",
        "mixes datetimes and integers",
        timestamp_unit="us",
    )


# ----------------------------------------------------------------------------- names


def test_missing_column_lists_close_matches():
    data = frame().rename(columns={"x": "X"})
    expect_error(data, ALL, "missing column(s) 'x'", "did you mean 'X'?")


def test_extra_columns_ignored_for_training_rejected_for_serving():
    to_feed(frame(), ALL)  # 'unused' is fine
    expect_error(frame(), ALL, "unexpected column(s) 'unused'", extra="error")
    row = {"x": 1.0, "n": 1, "m": 1, "b": True, "s": "a", "ts": JAN1, "spam": 1}
    expect_error([row], ALL, "'spam'", extra="error")


def test_row_missing_a_key_is_named():
    rows = [{"n": 1}, {"m": 2}]
    expect_error(rows, [col("n", INT)], "row 1 has no key 'n'")


def test_bad_sources_are_data_errors():
    expect_error(42, ALL, "cannot read data of type int")
    expect_error(["row"], ALL, "row 0 is a str")
    expect_error({"n": 5}, [col("n", INT)], "column 'n' is a int")
    expect_error({"n": [1, 2], "m": [1]}, [col("n", INT)], "different lengths")
    dup = pd.DataFrame([[1, 2]], columns=["n", "n"])
    expect_error(dup, [col("n", INT)], "duplicate column name(s) 'n'")


# ----------------------------------------------------------------------------- value rules


def test_null_in_non_nullable_column():
    expect_error(
        {"x": [1.0, np.nan]}, [col("x", FLOAT)], "column 'x', row 1", "non-nullable", "'x: float?'"
    )
    expect_error({"s": ["a", "b", None]}, [col("s", STR)], "column 's', row 2", "non-nullable")
    expect_error(pd.DataFrame({"m": pd.array([1, None], dtype="Int64")}), [col("m", INT)], "row 1")


def test_fractional_or_out_of_range_float_in_int_column():
    expect_error({"n": [1.0, 2.5]}, [col("n", INT)], "column 'n', row 1", "2.5", "fractional")
    expect_error({"n": [1.0, 1e19]}, [col("n", INT)], "row 1", "out of the int64 range")
    expect_error({"n": [np.inf]}, [col("n", INT, True)], "row 0", "out of the int64 range")
    expect_error({"n": [1, 2**64]}, [col("n", INT)], "row 1", "out of the int64 range")
    expect_error({"n": np.array([1, 2**63], dtype=np.uint64)}, [col("n", INT)], "row 1")


def test_ints_beyond_float_precision_rejected():
    expect_error(
        {"x": np.array([0, 2**53 + 1])}, [col("x", FLOAT)], "row 1", "9007199254740993", "round"
    )
    expect_error({"x": [0.5, 2**53 + 1]}, [col("x", FLOAT)], "row 1", "would round")


def test_bool_column_accepts_bools_only():
    expect_error({"b": [True, 1]}, [col("b", BOOL)], "column 'b', row 1", "expected bool", "int 1")
    expect_error({"b": np.array([0, 1])}, [col("b", BOOL)], "row 0", "expected bool")
    expect_error({"b": ["true"]}, [col("b", BOOL)], "row 0", "str 'true'")


def test_float_column_rejects_bools_and_strings():
    expect_error({"x": [1.0, True]}, [col("x", FLOAT)], "row 1", "expected float")
    expect_error({"x": ["1.0"]}, [col("x", FLOAT)], "row 0", "expected float")


def test_string_column_accepts_str_only():
    expect_error({"s": ["a", 5]}, [col("s", STR)], "column 's', row 1", "int 5", "astype(str)")
    expect_error({"s": ["a", b"b"]}, [col("s", STR)], "row 1", "bytes")
    expect_error({"s": np.array([1.5, 2.5])}, [col("s", STR)], "row 0", "expected string")


def test_strings_with_nul_or_lone_surrogates_rejected():
    expect_error({"s": ["ok", "a\x00b"]}, [col("s", STR)], "row 1", "U+0000")
    expect_error({"s": ["ok", "ok", "\ud800"]}, [col("s", STR)], "row 2", "surrogate")


def test_mixed_object_column_names_first_bad_row():
    data = pd.DataFrame({"x": pd.Series([1.0, 2, "three", None, "four"], dtype=object)})
    expect_error(data, [col("x", FLOAT, True)], "column 'x', row 2", "'three'")


def test_first_offending_row_across_rules():
    # row 1 is null in a non-nullable column, row 2 is fractional: row 1 comes first
    expect_error({"n": [1.0, np.nan, 2.5]}, [col("n", INT)], "row 1", "non-nullable")


def test_problems_in_several_columns_reported_together():
    message = expect_error({"n": [1.5], "s": [1]}, [col("n", INT), col("s", STR)], "2 columns")
    assert "column 'n', row 0" in message and "column 's', row 0" in message


def test_braces_in_values_do_not_break_messages():
    expect_error({"x": ["{name}{value}"]}, [col("x", FLOAT)], "'{name}{value}'")


# ----------------------------------------------------------------------------- files


def write(tmp_path: Path, text: str, name: str = "train.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


CSV_INPUTS = [
    col("zip", STR, True),
    col("n", INT, True),
    col("x", FLOAT, True),
    col("b", BOOL, True),
    col("ts", TS, True),
]


def test_csv_keeps_string_columns_and_parses_declared_types(tmp_path):
    path = write(
        tmp_path,
        "zip,n,x,b,ts,other\n"
        "00123,1,1.5,true,2021-01-01T00:00:00Z,a\n"
        ",,,,,\n"
        '"",-3,nan,0,2021-01-01T01:00:00+01:00,c\n'
        "NA,4,1e3,FALSE,2021-01-01T00:00:00.123456Z,d\n",
    )
    feed = to_feed(path, CSV_INPUTS)
    assert feed["zip"].tolist() == ["00123", "", "", "NA"]
    assert feed["zip.is_null"].tolist() == [False, True, False, False]  # "" quoted is a value
    assert feed["n"].tolist() == [1, 0, -3, 4] and feed["n.is_null"].tolist() == [
        False,
        True,
        False,
        False,
    ]
    assert np.isnan(feed["x"][1]) and np.isnan(feed["x"][2]) and feed["x"][3] == 1000.0
    assert feed["b"].tolist() == [True, False, False, False] and feed["b.is_null"][1]
    assert feed["ts"].tolist() == [JAN1, 0, JAN1, JAN1 + 123456]


def test_read_table_returns_typed_arrow_table(tmp_path):
    path = write(tmp_path, "zip,n\n00123,5\n")
    table = read_table(path, [col("zip", STR), col("n", INT)])
    assert table.schema.field("zip").type == pa.string()
    assert table.schema.field("n").type == pa.int64()
    assert table.column("zip").to_pylist() == ["00123"]


def test_csv_errors_name_file_column_and_row(tmp_path):
    header = "zip,n,x,b,ts\n"
    good = "a,1,1,true,2021-01-01T00:00:00Z\n"
    cases = [
        (
            "b,0x10,1,true,2021-01-01T00:00:00Z\n",
            "column 'n', row 1: '0x10' is not a decimal integer",
        ),
        ("b,99999999999999999999,1,true,2021-01-01T00:00:00Z\n", "column 'n', row 1"),
        ("b,1,abc,true,2021-01-01T00:00:00Z\n", "column 'x', row 1: 'abc' is not a number"),
        ("b,1,1,yes,2021-01-01T00:00:00Z\n", "column 'b', row 1: 'yes' is not a bool"),
        ("b,1,1,true,2021-01-01 00:00:00\n", "column 'ts' " + NAIVE + " (first at row 1"),
        ("b,1,1,true,2021-01-01T00:00:00.1234567Z\n", "column 'ts', row 1"),
    ]
    for bad, fragment in cases:
        path = write(tmp_path, header + good + bad)
        message = expect_error(path, CSV_INPUTS, fragment)
        assert message.startswith(str(path))


def test_file_errors(tmp_path):
    expect_error(tmp_path / "missing.csv", CSV_INPUTS, "no such file")
    expect_error(write(tmp_path, "x", "data.json"), CSV_INPUTS, "unknown file type")
    expect_error(write(tmp_path, "zip,n\n1,2,3\n"), CSV_INPUTS, "cannot read CSV")
    expect_error(write(tmp_path, "not parquet", "t.parquet"), CSV_INPUTS, "cannot read Parquet")


def test_parquet_round_trip(tmp_path):
    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pandas(frame(), preserve_index=False), path)
    check_all(to_feed(path, ALL))
    check_all(to_feed(str(path), ALL))


# ----------------------------------------------------------------------------- helpers


def test_take_and_feed_length():
    feed = to_feed(frame(), ALL)
    subset = take(feed, [2, 0])
    assert feed_length(subset) == 2
    assert subset["n"].tolist() == [3, 1] and subset["s"].tolist() == ["00123", "a"]
    assert feed_length({}) == 0
    with pytest.raises(DataError):
        feed_length({"a": np.zeros(1), "b": np.zeros(2)})


def test_large_frame_converts_exactly():
    n = 200_000
    rng = np.random.default_rng(0)
    data = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "n": rng.integers(0, 9, n),
            "m": pd.array(rng.integers(0, 9, n), dtype="Int64"),
            "b": rng.random(n) < 0.5,
            "ts": pd.to_datetime(rng.integers(0, 2**50, n), unit="us", utc=True),
        }
    )
    inputs = [col("x", FLOAT), col("n", INT), col("m", INT, True), col("b", BOOL), col("ts", TS)]
    feed = to_feed(data, inputs)  # speed lives in `make bench`, not in a timed test
    assert np.array_equal(feed["n"], data["n"].to_numpy())
    assert np.array_equal(
        feed["ts"], data["ts"].to_numpy().astype("datetime64[us]").astype(np.int64)
    )
    assert feed["m.is_null"].sum() == 0
