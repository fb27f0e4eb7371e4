"""Point-in-time join: a brute-force reference, pandas.merge_asof, and the refusals."""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featuredsl.errors import DataError
from featuredsl.joins import pit

# The tables here hold epoch microseconds as plain integers: stated, never guessed.
join_us = functools.partial(pit.join, timestamp_unit="us")

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BIG = 2**62  # far-apart instants exercise the overflow-free TTL arithmetic

# ---------------------------------------------------------------- brute-force reference


def reference(labels, features, keys, ttl, allow_equal, created):
    """For every label row scan every feature row: the spec of pit.join, written the slow way."""

    def before(t, limit):
        return t is not None and (t <= limit if allow_equal else t < limit)

    out = []
    for lab in labels:
        best, best_order = -1, None
        lt = lab["t"]
        for j, feat in enumerate(features):
            if lt is None or any(
                lab[k] is None or feat[k] is None or lab[k] != feat[k] for k in keys
            ):
                continue
            if not before(feat["ft"], lt) or (created and not before(feat["ct"], lt)):
                continue
            if ttl is not None and lt - feat["ft"] > ttl:
                continue
            order = (feat["ft"], feat["ct"] if created else 0, j)
            if best_order is None or order > best_order:
                best, best_order = j, order
        out.append(best)
    return out


# ---------------------------------------------------------------- strategies

TIMES = st.one_of(st.integers(0, 12), st.sampled_from([-BIG, BIG]), st.none())
INT_KEYS = st.one_of(st.integers(0, 3), st.none())
STR_KEYS = st.one_of(st.sampled_from(["a", "b", "é"]), st.none())


def rows(n_max):
    return st.lists(
        st.fixed_dictionaries(
            {"k1": INT_KEYS, "k2": STR_KEYS, "t": TIMES, "ft": TIMES, "ct": TIMES}
        ),
        max_size=n_max,
    )


@st.composite
def cases(draw):
    return {
        "labels": draw(rows(25)),
        "features": draw(rows(25)),
        "keys": draw(st.sampled_from([["k1"], ["k2"], ["k1", "k2"], []])),
        "ttl": draw(st.one_of(st.none(), st.integers(0, 6), st.just(BIG))),
        "allow_equal": draw(st.booleans()),
        "created": draw(st.booleans()),
        "timestamps": draw(st.booleans()),
    }


def time_array(values, timestamps):
    kind = pa.timestamp("us", tz="UTC") if timestamps else pa.int64()
    return pa.array(values, type=kind)


def label_table(labels, timestamps):
    return pa.table(
        {
            "k1": pa.array([r["k1"] for r in labels], pa.int64()),
            "k2": pa.array([r["k2"] for r in labels], pa.string()),
            "t": time_array([r["t"] for r in labels], timestamps),
        }
    )


def feature_table(features, timestamps):
    return pa.table(
        {
            "k1": pa.array([r["k1"] for r in features], pa.int64()),
            "k2": pa.array([r["k2"] for r in features], pa.string()),
            "ft": time_array([r["ft"] for r in features], timestamps),
            "ct": time_array([r["ct"] for r in features], timestamps),
            "row": pa.array(range(len(features)), pa.int64()),
        }
    )


def to_pandas(table):
    # Nullable Int64, because float64 epoch micros are refused (pandas' default for int + null).
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def run_join(case, labels, features):
    return join_us(
        labels,
        features,
        on=case["keys"],
        label_time="t",
        feature_time="ft",
        created_time="ct" if case["created"] else None,
        ttl=case["ttl"],
        allow_equal=case["allow_equal"],
        prefix="f_",
    )


def expected(case):
    return reference(
        case["labels"],
        case["features"],
        case["keys"],
        case["ttl"],
        case["allow_equal"],
        case["created"],
    )


# ---------------------------------------------------------------- properties


@SETTINGS
@given(cases())
def test_arrow_join_matches_brute_force(case):
    labels = label_table(case["labels"], case["timestamps"])
    features = feature_table(case["features"], case["timestamps"])
    out = run_join(case, labels, features)
    assert isinstance(out, pa.Table)
    got = out.column("f_row").fill_null(-1).to_pylist()
    assert got == expected(case)
    # Label columns are untouched and in their original order.
    assert out.select(["k1", "k2", "t"]).equals(labels)


@SETTINGS
@given(cases())
def test_pandas_join_matches_brute_force(case):
    labels = to_pandas(label_table(case["labels"], case["timestamps"]))
    labels.index = pd.RangeIndex(100, 100 + len(labels))  # the label index is kept, not reset
    features = to_pandas(feature_table(case["features"], case["timestamps"]))
    out = run_join(case, labels, features)
    assert isinstance(out, pd.DataFrame)
    assert out.index.equals(labels.index)
    got = out["f_row"].fillna(-1).astype(int).tolist()
    assert got == expected(case)
    pd.testing.assert_frame_equal(out[labels.columns], labels)


@SETTINGS
@given(cases(), st.integers(0, 5), st.booleans())
def test_several_tables_each_with_own_ttl(case, second_ttl, second_created):
    labels = label_table(case["labels"], case["timestamps"])
    features = feature_table(case["features"], case["timestamps"])
    specs = [
        pit.FeatureTable(features, prefix="a_"),
        pit.FeatureTable(
            features, ttl=second_ttl, created_time="ct" if second_created else None, prefix="b_"
        ),
    ]
    out = join_us(
        labels,
        specs,
        on=case["keys"],
        label_time="t",
        feature_time="ft",
        ttl=case["ttl"],
        allow_equal=case["allow_equal"],
    )
    first = reference(
        case["labels"], case["features"], case["keys"], case["ttl"], case["allow_equal"], False
    )
    second = reference(
        case["labels"],
        case["features"],
        case["keys"],
        second_ttl,
        case["allow_equal"],
        second_created,
    )
    assert out.column("a_row").fill_null(-1).to_pylist() == first
    assert out.column("b_row").fill_null(-1).to_pylist() == second


# ---------------------------------------------------------------- pandas.merge_asof


NAMES = st.sampled_from(["x", "y"])


@st.composite
def asof_frames(draw):
    def column(elements, size):
        values = draw(st.lists(elements, min_size=size, max_size=size))
        return (
            pd.array(values, dtype="str") if elements is NAMES else np.array(values, dtype=np.int64)
        )

    n_left, n_right = draw(st.integers(0, 30)), draw(st.integers(0, 30))
    keys, times = st.integers(0, 3), st.integers(0, 15)
    left = pd.DataFrame({"k": column(keys, n_left), "t": column(times, n_left)})
    right = pd.DataFrame(
        {
            "k": column(keys, n_right),
            "ft": column(times, n_right),
            "v": column(st.integers(-5, 5), n_right),
            "s": column(NAMES, n_right),
        }
    )
    for frame, col in ((left, "t"), (right, "ft")):
        frame[col] = pd.to_datetime(frame[col], unit="s", utc=True).astype("datetime64[us, UTC]")
    # merge_asof needs sorted inputs; a stable sort keeps table order among equal times.
    left = left.sort_values("t", kind="stable", ignore_index=True)
    right = right.sort_values("ft", kind="stable", ignore_index=True)
    return left, right


@SETTINGS
@given(asof_frames(), st.one_of(st.none(), st.integers(0, 6)), st.booleans(), st.booleans())
def test_same_as_merge_asof(frames, ttl_s, allow_equal, by_key):
    left, right = frames
    tolerance = None if ttl_s is None else pd.Timedelta(seconds=ttl_s)
    if not by_key:
        right = right.drop(columns="k")
    want = pd.merge_asof(
        left,
        right,
        left_on="t",
        right_on="ft",
        by="k" if by_key else None,
        tolerance=tolerance,
        allow_exact_matches=allow_equal,
    )
    got = join_us(
        left,
        right,
        on=["k"] if by_key else [],
        label_time="t",
        feature_time="ft",
        ttl=tolerance,
        allow_equal=allow_equal,
    )
    pd.testing.assert_frame_equal(got, want)


# ---------------------------------------------------------------- worked cases


def utc(*seconds):
    return pd.to_datetime(list(seconds), unit="s", utc=True)


def test_late_backfill_does_not_leak():
    labels = pd.DataFrame({"user": [1], "t": utc(50)})
    features = pd.DataFrame(
        {
            "user": [1, 1],
            "ft": utc(5, 10),
            "written": utc(6, 100),  # the t=10 value was backfilled at t=100
            "v": [1.0, 2.0],
        }
    )
    naive = join_us(labels, features, on="user", label_time="t", feature_time="ft")
    safe = join_us(
        labels, features, on="user", label_time="t", feature_time="ft", created_time="written"
    )
    assert naive["v"].tolist() == [2.0]
    assert safe["v"].tolist() == [1.0]


def test_ties_prefer_later_created_then_later_row():
    labels = pa.table({"k": [1, 1], "t": pa.array([10, 3], pa.int64())})
    features = pa.table(
        {
            "k": [1, 1, 1, 1],
            "ft": pa.array([5, 5, 5, 2], pa.int64()),
            "ct": pa.array([7, 6, 7, 2], pa.int64()),
            "v": ["a", "b", "c", "d"],
        }
    )
    out = join_us(labels, features, on="k", label_time="t", feature_time="ft", created_time="ct")
    assert out.column("v").to_pylist() == ["c", "d"]
    no_created = join_us(labels, features, on="k", label_time="t", feature_time="ft")
    assert no_created.column("v").to_pylist() == ["c", "d"]


def test_ttl_forms_agree():
    labels = pd.DataFrame({"k": [1, 1], "t": utc(86_400 * 7, 86_400 * 8)})
    features = pd.DataFrame({"k": [1], "ft": utc(0), "v": [3]})
    for ttl in ("7d", "168h", dt.timedelta(days=7), pd.Timedelta("7D"), 7 * 86_400_000_000):
        out = join_us(labels, features, on="k", label_time="t", feature_time="ft", ttl=ttl)
        assert out["v"].tolist()[0] == 3
        assert np.isnan(out["v"].tolist()[1])


def test_time_zones_are_instants():
    labels = pd.DataFrame(
        {"k": [1], "t": pd.to_datetime(["2024-03-01 12:00"]).tz_localize("Europe/Berlin")}
    )
    # 11:30 UTC is after 12:00 Berlin (11:00 UTC): not visible.
    features = pd.DataFrame(
        {
            "k": [1, 1],
            "ft": pd.to_datetime(["2024-03-01 10:30", "2024-03-01 11:30"], utc=True),
            "v": [1, 2],
        }
    )
    out = join_us(labels, features, on="k", label_time="t", feature_time="ft")
    assert out["v"].tolist() == [1]


def test_epoch_micros_and_timestamps_mix():
    labels = pa.table({"k": [1], "t": pa.array([2_000_000], pa.int64())})
    features = pa.table(
        {"k": [1, 1], "ft": pa.array([1, 3], pa.timestamp("s", tz="UTC")), "v": [1, 2]}
    )
    assert join_us(labels, features, on="k", label_time="t", feature_time="ft").column(
        "v"
    ).to_pylist() == [1]


def test_multiple_keys_of_mixed_types_and_string_keys():
    labels = pd.DataFrame({"a": ["x", "x", "y"], "b": [1, 2, 1], "t": utc(10, 10, 10)})
    features = pd.DataFrame(
        {"a": ["x", "x", "y"], "b": [2, 1, 2], "ft": utc(1, 2, 3), "v": [20, 10, 30]}
    )
    out = join_us(labels, features, on=["a", "b"], label_time="t", feature_time="ft")
    assert out["v"].tolist()[:2] == [10, 20]
    assert np.isnan(out["v"].tolist()[2])


def test_int_key_with_missing_value_matches_float_key():
    labels = pd.DataFrame({"k": [1, 2], "t": utc(5, 5)})
    features = pd.DataFrame({"k": [1.0, np.nan], "ft": utc(1, 1), "v": [7, 8]})
    out = join_us(labels, features, on="k", label_time="t", feature_time="ft")
    assert out["v"].tolist()[0] == 7
    assert np.isnan(out["v"].tolist()[1])


def test_mixed_kinds_follow_labels():
    labels = pa.table({"k": [1], "t": pa.array([5], pa.int64())})
    features = pd.DataFrame({"k": [1], "ft": [1], "v": [4]})
    out = join_us(labels, features, on="k", label_time="t", feature_time="ft")
    assert isinstance(out, pa.Table)
    assert out.column("v").type == pa.int64()
    back = join_us(
        labels.to_pandas().set_axis(pd.Index([7])),
        pa.Table.from_pandas(features),
        on="k",
        label_time="t",
        feature_time="ft",
    )
    assert isinstance(back, pd.DataFrame)
    assert back.index.tolist() == [7]
    assert back["v"].tolist() == [4]


def test_duplicate_label_index_is_kept():
    labels = pd.DataFrame({"k": [1, 1, 2], "t": [5, 6, 7]}, index=[0, 0, 1])
    features = pd.DataFrame({"k": [1, 2, 1], "ft": [1, 2, 6], "v": [10, 20, 30]})
    out = join_us(labels, features, on="k", label_time="t", feature_time="ft")
    assert out.index.tolist() == [0, 0, 1]
    assert out["v"].tolist() == [10, 30, 20]
    with pytest.raises(DataError, match="non-string column names"):
        join_us(
            labels, features.rename(columns={"v": 3}), on="k", label_time="t", feature_time="ft"
        )


def test_empty_inputs():
    labels = pa.table({"k": pa.array([], pa.int64()), "t": pa.array([], pa.int64())})
    features = pa.table(
        {"k": pa.array([1], pa.int64()), "ft": pa.array([1], pa.int64()), "v": [1.5]}
    )
    assert join_us(labels, features, on="k", label_time="t", feature_time="ft").num_rows == 0
    labels = pa.table({"k": [1], "t": pa.array([5], pa.int64())})
    out = join_us(labels, features.slice(0, 0), on="k", label_time="t", feature_time="ft")
    assert out.column("v").to_pylist() == [None]


def test_categorical_keys():
    labels = pd.DataFrame({"k": pd.Categorical(["a", "b"]), "t": utc(5, 5)})
    features = pd.DataFrame({"k": ["b"], "ft": utc(1), "v": [1.0]})
    out = join_us(labels, features, on="k", label_time="t", feature_time="ft")
    assert np.isnan(out["v"][0])
    assert out["v"][1] == 1.0


# ---------------------------------------------------------------- refusals


def test_naive_times_are_refused_with_the_fix():
    labels = pd.DataFrame({"k": [1], "t": pd.to_datetime(["2024-01-01"])})
    features = pd.DataFrame({"k": [1], "ft": utc(1), "v": [1]})
    with pytest.raises(
        DataError, match=r"labels column 't' is a time-zone-naive.*tz_localize\('UTC'\)"
    ):
        join_us(labels, features, on="k", label_time="t", feature_time="ft")
    features = pa.table({"k": [1], "ft": pa.array([1], pa.timestamp("us")), "v": [1]})
    labels = pd.DataFrame({"k": [1], "t": utc(5)})
    with pytest.raises(DataError, match=r"features column 'ft' is a time-zone-naive"):
        join_us(labels, features, on="k", label_time="t", feature_time="ft")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (pa.array([1.5]), "not floats"),
        (pa.array(["2024-01-01"]), "tz-aware timestamps"),
        (pa.array([dt.date(2024, 1, 1)]), "date without a time zone"),
        (pa.array([1_500], pa.timestamp("ns", tz="UTC")), "sub-microsecond"),
    ],
)
def test_bad_time_columns(values, message):
    labels = pa.table({"k": [1], "t": pa.array([5], pa.int64())})
    features = pa.table({"k": [1], "ft": values, "v": [1]})
    with pytest.raises(DataError, match=message):
        join_us(labels, features, on="k", label_time="t", feature_time="ft")


def test_whole_microsecond_nanoseconds_are_fine():
    labels = pa.table({"k": [1], "t": pa.array([5_000], pa.timestamp("ns", tz="UTC"))})
    features = pa.table({"k": [1], "ft": pa.array([4_000], pa.timestamp("ns", tz="UTC")), "v": [1]})
    assert join_us(labels, features, on="k", label_time="t", feature_time="ft").column(
        "v"
    ).to_pylist() == [1]


def test_column_collision_needs_a_prefix():
    labels = pd.DataFrame({"k": [1], "t": utc(5), "v": [0]})
    features = pd.DataFrame({"k": [1], "t": utc(1), "v": [1]})
    with pytest.raises(DataError, match=r"'t' would be added as 't'.*prefix"):
        join_us(labels, features, on="k", label_time="t", feature_time="t")
    out = join_us(labels, features, on="k", label_time="t", feature_time="t", prefix="f_")
    assert list(out.columns) == ["k", "t", "v", "f_t", "f_v"]
    with pytest.raises(DataError, match="prefix"):
        join_us(labels, [features, features], on="k", label_time="t", feature_time="t", prefix="f_")


def test_missing_columns_and_key_type_mismatch():
    labels = pd.DataFrame({"k": [1], "t": utc(5)})
    features = pd.DataFrame({"k": ["1"], "ft": utc(1), "v": [1]})
    with pytest.raises(DataError, match=r"key 'k' is int64 in labels but large_string in features"):
        join_us(labels, features, on="k", label_time="t", feature_time="ft")
    with pytest.raises(DataError, match=r"labels has no column 'when'"):
        join_us(labels, features, on="k", label_time="when", feature_time="ft")
    good = features.assign(k=1)
    with pytest.raises(DataError, match=r"features\[1\] has no column 'user'"):
        specs = [
            pit.FeatureTable(good, prefix="a_"),
            pit.FeatureTable(good, on="user", prefix="b_"),
        ]
        join_us(labels.assign(user=1), specs, on="k", label_time="t", feature_time="ft")
    with pytest.raises(DataError, match="pandas DataFrame or a pyarrow Table"):
        join_us({"k": [1]}, features, on="k", label_time="t", feature_time="ft")
    with pytest.raises(DataError, match="feature time"):
        join_us(labels, features, on="k", label_time="t")


@pytest.mark.parametrize(
    ("ttl", "micros"),
    [
        ("7d", 7 * 86_400_000_000),
        ("12h", 12 * 3_600_000_000),
        ("30m", 30 * 60_000_000),
        ("45s", 45_000_000),
        ("1d12h", 36 * 3_600_000_000),
        (" 2w ", 14 * 86_400_000_000),
        ("250ms", 250_000),
        ("0s", 0),
        (5, 5),
        (dt.timedelta(minutes=1, microseconds=3), 60_000_003),
        (pd.Timedelta("1s"), 1_000_000),
        (np.timedelta64(3, "ms"), 3_000),
        (None, None),
    ],
)
def test_parse_ttl(ttl, micros):
    assert pit.parse_ttl(ttl) == micros


@pytest.mark.parametrize(
    "ttl", ["7", "d", "7 days", "1.5h", "-1d", -1, True, 1.5, pd.Timedelta(1, "ns")]
)
def test_parse_ttl_refuses(ttl):
    with pytest.raises(DataError, match="ttl"):
        pit.parse_ttl(ttl)


# ---------------------------------------------------------------- large inputs


@pytest.mark.parametrize("spread", [10**6, 2**62])
def test_cache_friendly_search_is_exact(spread):
    # Above 65536 needles pit probes in a rough sort order; results must not depend on it.
    rng = np.random.default_rng(spread % 97)
    haystack = np.sort(rng.integers(-spread, spread, 5_000))
    needles = rng.integers(-spread, spread, 100_000)
    needles[:4] = [np.iinfo(np.int64).min, np.iinfo(np.int64).max, haystack[0], haystack[-1]]
    for side in ("left", "right"):
        assert np.array_equal(
            pit._searchsorted(haystack, needles, side), np.searchsorted(haystack, needles, side)
        )


def test_both_time_scales_are_used():
    assert pit._time_scale(np.array([0, 5]), 3).times is None  # offsets from the minimum
    assert pit._time_scale(np.array([-BIG, BIG]), 1).times is not None  # ranks: span too wide


@pytest.mark.parametrize("spread", [10**6, 2**61])
def test_large_join_matches_merge_asof(spread):
    rng = np.random.default_rng(7)
    n_labels, n_features = 150_000, 20_000
    labels = pd.DataFrame(
        {
            "k": rng.integers(0, 50, n_labels),
            "k2": rng.choice(list("abcdefghij"), n_labels),
            "t": rng.integers(0, spread, n_labels),
        }
    ).sort_values("t", kind="stable", ignore_index=True)
    features = pd.DataFrame(
        {
            "k": rng.integers(0, 50, n_features),
            "k2": rng.choice(list("abcdefghij"), n_features),
            "ft": rng.integers(0, spread, n_features),
            "v": rng.normal(size=n_features),
        }
    ).sort_values("ft", kind="stable", ignore_index=True)
    for ttl in (None, spread // 200):
        want = pd.merge_asof(
            labels, features, left_on="t", right_on="ft", by=["k", "k2"], tolerance=ttl
        )
        got = join_us(labels, features, on=["k", "k2"], label_time="t", feature_time="ft", ttl=ttl)
        pd.testing.assert_frame_equal(got, want)


def test_plain_integer_times_need_their_unit() -> None:
    """Epoch seconds read as microseconds would match every label to 1970: refused instead."""
    labels = pa.table({"k": [1], "t": pa.array([1_700_000_000], pa.int64())})  # seconds
    features = pa.table(
        {"k": [1, 1], "ft": pa.array([1_699_998_200, 1_699_650_000], pa.int64()), "v": [1, 2]}
    )
    with pytest.raises(DataError, match=r"labels column 't' holds plain integers .* unit"):
        pit.join(labels, features, on="k", label_time="t", feature_time="ft")
    # Stated in seconds: the 30-minute-old row wins, and a 2 h TTL is 2 hours of real time.
    kw = {"on": "k", "label_time": "t", "feature_time": "ft", "timestamp_unit": "s"}
    out = pit.join(labels, features, ttl="2h", with_age=True, **kw)
    assert out.column("v").to_pylist() == [1] and out.column("ft_age").to_pylist() == [
        1_800_000_000
    ]
    stale = pa.table({"k": [1], "ft": pa.array([1_699_650_000], pa.int64()), "v": [2]})
    assert pit.join(labels, stale, ttl="2h", **kw).column("v").to_pylist() == [None]
