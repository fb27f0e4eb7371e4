"""`featuredsl skew`, `parity --data` and `shadow --data` stream their data: every batch they
process has at most --batch-rows rows, and the report is the same at any batch size (and, for
parity and shadow, the same as a comparison of all rows at once)."""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_bundle import churn_csv, churn_fitted, run_cli
from test_shadow import classifier

from featuredsl.artifact.load import Artifacts, load
from featuredsl.fit.analyzers import Std, ordered_keys
from featuredsl.ingest import read_table, to_feed
from featuredsl.monitor.columns import NUMERIC, Column
from featuredsl.monitor.jsonable import jsonable
from featuredsl.monitor.streaming import NumericAcc, SummariesAcc
from featuredsl.parity.compare import CompareAcc, compare
from featuredsl.parity.runner import run_parity
from featuredsl.runtime.bundle import bundle
from featuredsl.runtime.serving import Session
from featuredsl.runtime.shadow import (
    RowContext,
    Side,
    compare_outputs,
    shadow,
)


def pieces(n: int, cuts: list[int]) -> list[tuple[int, int]]:
    bounds = sorted({0, n, *(c % (n + 1) for c in cuts)})
    return list(itertools.pairwise(bounds))


# ----------------------------------------------------------------------------- skew summaries

FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.5, 1.5000000000000002, -3.0, 1e300, 5e-324, 7.0]),
)


def numeric_acc(values: np.ndarray, cap: int, cuts: list[int]) -> NumericAcc:
    acc = None
    for lo, hi in pieces(len(values), cuts):
        part = values[lo:hi]
        column = Column("x", NUMERIC, part, np.isnan(part))
        one = NumericAcc.of(column, cap)
        acc = one if acc is None else acc.merge(one, cap)
    assert acc is not None
    return acc


def same_summary(a: NumericAcc, b: NumericAcc) -> None:
    sa, sb = a.summary(), b.summary()
    assert sa.values.tobytes() == sb.values.tobytes()
    assert sa.weights.tobytes() == sb.weights.tobytes()
    for name in ("rows", "nulls", "pos_inf", "neg_inf", "exact"):
        assert getattr(sa, name) == getattr(sb, name)
    for name in ("mean", "std", "min", "max"):
        x, y = getattr(sa, name), getattr(sb, name)
        assert (math.isnan(x) and math.isnan(y)) or np.float64(x).tobytes() == np.float64(
            y
        ).tobytes()


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(FLOATS, min_size=1, max_size=200),
    cap=st.sampled_from([1, 2, 3, 5, 8, 1 << 16]),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_numeric_summary_is_the_same_at_any_chunking(
    values: list[float], cap: int, cuts: list[int]
) -> None:
    x = np.array(values, dtype=np.float64)
    whole = numeric_acc(x, cap, [])
    same_summary(numeric_acc(x, cap, cuts), whole)
    same_summary(numeric_acc(x[::-1].copy(), cap, cuts), whole)  # order does not matter either
    finite = x[np.isfinite(x)] + 0.0
    summary = whole.summary()
    assert summary.weights.sum() == len(finite)
    assert (summary.nulls, summary.pos_inf, summary.neg_inf) == (
        int(np.isnan(x).sum()),
        int((x == np.inf).sum()),
        int((x == -np.inf).sum()),
    )
    if len(finite) == 0:
        return
    # the mean of the finite values, correctly rounded from the exact sum
    exact_mean = sum((Fraction(v) for v in finite.tolist()), Fraction(0)) / len(finite)
    assert summary.mean == float(exact_mean)
    std = Std()
    assert summary.std == std.extract_output(std.add_input(std.create_accumulator(), finite))
    assert (summary.min, summary.max) == (finite.min(), finite.max())
    keys = ordered_keys(finite)
    if len(np.unique(keys)) <= cap:  # every distinct value, exactly
        distinct, counts = np.unique(finite, return_counts=True)
        assert summary.exact and whole.shift == 0
        assert summary.values.tolist() == distinct.tolist()
        assert summary.weights.tolist() == counts.tolist()
    else:  # buckets: the smallest shift with at most `cap` of them, exact counts per bucket
        shift = whole.shift
        assert not summary.exact and shift > 0
        assert len(np.unique(keys >> np.uint64(shift))) <= cap
        assert len(np.unique(keys >> np.uint64(shift - 1))) > cap
        buckets, counts = np.unique(keys >> np.uint64(shift), return_counts=True)
        assert whole.keys.tolist() == buckets.tolist()
        assert whole.counts.tolist() == counts.tolist()
        # each representative is a value of its own bucket, within the data's range
        represented = ordered_keys(summary.values + 0.0) >> np.uint64(shift)
        assert represented.tolist() == buckets.tolist()
        assert summary.values.min() >= finite.min() and summary.values.max() <= finite.max()


def test_a_column_missing_from_some_batches_counts_as_nulls_there() -> None:
    from featuredsl.monitor.columns import Dataset

    acc = SummariesAcc("s")
    one = np.array([1.0, 2.0])
    acc.add(Dataset({"features": {"a": Column("a", NUMERIC, one, np.zeros(2, bool))}}))
    acc.add(
        Dataset(
            {
                "features": {
                    "b": Column("b", "categorical", np.array(["u"], object), np.zeros(1, bool))
                }
            }
        )
    )
    result = acc.result()
    a, b = result.groups["features"]["a"], result.groups["features"]["b"]
    assert (a.rows, a.nulls, b.rows, b.nulls) == (3, 1, 3, 2)


# ----------------------------------------------------------------------------- data on disk


def write_dataset(root: Path, table: pa.Table, parts: int, row_group: int) -> Path:
    size = -(-table.num_rows // parts)
    for i in range(parts):
        folder = root / f"part={i}"
        folder.mkdir(parents=True)
        pq.write_table(
            table.slice(i * size, size), folder / "data.parquet", row_group_size=row_group
        )
    return root


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("streamed-checks")
    fitted = churn_fitted()
    fitted.save(root / "build")
    table = read_table(churn_csv(), fitted.program.inputs)
    half = table.num_rows // 2
    paths = {
        "build": root / "build",
        "ref": write_dataset(root / "ref", table.slice(0, half), parts=3, row_group=97),
        "cur": write_dataset(root / "cur", table.slice(half), parts=2, row_group=113),
        "all": write_dataset(root / "all", table, parts=4, row_group=101),
    }
    width = len(fitted.feature_names)
    for name, seed in (("v1", 1), ("v2", 2)):
        (root / f"{name}.onnx").write_bytes(classifier(width, seed).SerializeToString())
        bundle(
            root / "build", root / f"{name}.onnx", root / f"{name}.served.onnx", assume_order=True
        )
        paths[name] = root / f"{name}.served.onnx"
    return paths


class Sizes:
    """Records the rows of every batch a patched function receives."""

    def __init__(self) -> None:
        self.rows: list[int] = []

    def wrap(self, monkeypatch: pytest.MonkeyPatch, owner: object, name: str, rows_of) -> None:  # type: ignore[no-untyped-def]
        original = getattr(owner, name)

        def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.rows.append(rows_of(*args, **kwargs))
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)


def feed_rows(feed: object) -> int:
    return len(next(iter(feed.values())))  # type: ignore[attr-defined]


@pytest.mark.parametrize("with_build", [True, False])
def test_skew_report_is_the_same_at_any_batch_size_and_batches_stay_bounded(
    churn: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    with_build: bool,
) -> None:
    if with_build:
        ref, cur, extra = churn["ref"], churn["cur"], ["--build", str(churn["build"])]
    else:  # feature files (the build's features of each side); numeric columns binned
        artifacts = load(churn["build"])
        ref, cur, extra = tmp_path / "fref", tmp_path / "fcur", ["--exact-values", "16"]
        for raw, out in ((churn["ref"], ref), (churn["cur"], cur)):
            data = read_table(raw, artifacts.program_inputs)
            values = artifacts.transform(data)
            table = pa.table({n: values[:, i] for i, n in enumerate(artifacts.feature_names)})
            write_dataset(out, table, parts=2, row_group=64)
    sizes = Sizes()
    sizes.wrap(monkeypatch, SummariesAcc, "add", lambda self, batch: batch.rows("features"))
    reports = []
    for batch in (37, 500, 100_000):
        out = tmp_path / f"skew-{batch}.json"
        argv = ["skew", "--reference", str(ref), "--current", str(cur), "--json", str(out)]
        code = run_cli([*argv, *extra, "--batch-rows", str(batch), "--fail-on", "never"])
        assert code == 0
        assert sizes.rows and max(sizes.rows) <= batch
        if batch == 37:
            assert len(sizes.rows) > 2 * 1000 / 37  # the sides were really cut
        sizes.rows.clear()
        reports.append(json.loads(out.read_text()))
    assert reports[0] == reports[1] == reports[2]
    compared = [f for f in reports[0]["features"] if f["status"] == "compared"]
    assert len(compared) >= 10
    groups = {f["group"] for f in reports[0]["features"]}
    assert groups == ({"features", "inputs"} if with_build else {"features"})


# ----------------------------------------------------------------------------- parity


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(min_value=0, max_value=60),
    width=st.integers(min_value=1, max_value=5),
    seed=st.integers(min_value=0, max_value=2**16),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=6),
)
def test_compare_over_batches_equals_compare_of_all_rows(
    rows: int, width: int, seed: int, cuts: list[int]
) -> None:
    rng = np.random.default_rng(seed)
    expected = rng.normal(size=(rows, width)) * 10.0 ** rng.integers(-3, 3, (rows, width))
    actual = expected.copy()
    near = rng.random((rows, width)) < 0.3
    actual[near] = np.nextafter(actual[near], rng.choice([-np.inf, np.inf], int(near.sum())))
    far = rng.random((rows, width)) < 0.1
    actual[far] += rng.normal(size=int(far.sum())) * 1e-12
    actual[rng.random((rows, width)) < 0.05] = np.nan
    signed = rng.random((rows, width)) < 0.05
    expected[signed], actual[signed] = 0.0, -0.0
    bounds = [int(b) for b in rng.choice([0, 0, 2, 4], width)]
    names = [f"c{i}" for i in range(width)]
    whole = compare(names, expected, actual, bounds, worst=3)
    acc = CompareAcc(names, bounds, worst=3)
    for lo, hi in pieces(rows, cuts):
        acc.add(expected[lo:hi], actual[lo:hi], lo)
    assert acc.result() == whole


def test_parity_streams_its_data_and_equals_the_in_memory_check(
    churn: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    artifacts = load(churn["build"])
    feed = artifacts.feed(read_table(churn_csv(), artifacts.program_inputs))
    in_memory = run_parity(churn["build"], data_feed=feed, batch_rows=10**9)
    sizes = Sizes()
    sizes.wrap(monkeypatch, Artifacts, "transform_feed", lambda self, feed, **_: feed_rows(feed))
    for batch in (53, 700):
        report = run_parity(churn["build"], data=str(churn["all"]), batch_rows=batch)
        data_batches = sizes.rows[:-1]  # the last one is the edge cases
        assert max(data_batches) <= batch and sum(data_batches) == feed_rows(feed)
        sizes.rows.clear()
        assert report.ok
        assert report.rows == in_memory.rows
        assert report.comparison == in_memory.comparison
        assert report.batch_vs_single == in_memory.batch_vs_single
        assert report.optimizations == in_memory.optimizations
        assert report.precision == in_memory.precision


def test_parity_names_the_worst_data_rows_of_a_streamed_failure(
    churn: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module that disagrees on some rows: the report names the same rows, with their inputs,
    as the in-memory check does (found by a second pass over the data)."""
    original = Artifacts.transform_feed

    def wrong(self, feed, float32=False):  # type: ignore[no-untyped-def]
        values = original(self, feed, float32=float32).copy()
        clicks = np.asarray(feed["clicks_7d"])
        values[clicks % 7 == 3, 0] += 1.0  # rows chosen by their inputs, not their position
        return values

    monkeypatch.setattr(Artifacts, "transform_feed", wrong)
    artifacts = load(churn["build"])
    feed = artifacts.feed(read_table(churn_csv(), artifacts.program_inputs))
    in_memory = run_parity(churn["build"], data_feed=feed, batch_rows=10**9)
    streamed = run_parity(churn["build"], data=str(churn["all"]), batch_rows=61)
    assert not streamed.ok and streamed.comparison.violations > 0
    assert streamed.comparison == in_memory.comparison
    assert streamed.worst == in_memory.worst
    assert all(case.source == "data" for case in streamed.worst)


# ----------------------------------------------------------------------------- shadow


def test_shadow_streams_its_data_and_equals_a_comparison_of_all_rows(
    churn: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = Session(churn["v1"]), Session(churn["v2"])
    table = read_table(churn_csv(), a.inputs)
    feed = to_feed(table, a.inputs)
    out_a, out_b = a.run_feed(feed), b.run_feed(to_feed(table, b.inputs))
    labels = tuple(f"row {i}" for i in range(table.num_rows))
    whole = compare_outputs(
        Side(str(churn["v1"]), a.fingerprint, a.output_names, a.feature_names, out_a),
        Side(str(churn["v2"]), b.fingerprint, b.output_names, b.feature_names, out_b),
        RowContext(table.num_rows, labels, feed, a.inputs, 0.0, 5),
        source="x",
    )
    sizes = Sizes()
    sizes.wrap(monkeypatch, Session, "run_feed", lambda self, feed, **_: feed_rows(feed))
    for batch in (41, 450):
        report = shadow(churn["v1"], churn["v2"], data=str(churn["all"]), batch_rows=batch)
        assert max(sizes.rows) <= batch and sum(sizes.rows) == 2 * table.num_rows
        sizes.rows.clear()
        assert report.rows == whole.rows and report.rows_differ == whole.rows_differ > 0
        assert jsonable(report.outputs) == jsonable(whole.outputs)
        assert any(o.top for o in report.outputs)  # rows differ: the worst ones are listed


# ----------------------------------------------------------------------------- the reader


def test_the_parquet_reader_holds_one_row_group_not_a_read_ahead_queue(tmp_path: Path) -> None:
    """A slow consumer (a transform) must not let the reader run ahead: Arrow memory while
    streaming stays within a few row groups, however many files and row groups there are."""
    import time

    from featuredsl.compiler.ir import InputColumn
    from featuredsl.compiler.types import DType
    from featuredsl.ingest.batches import open_source

    rng = np.random.default_rng(3)
    rows, group = 40_000, 10_000
    for i in range(6):
        table = pa.table(
            {
                "x": rng.normal(size=rows),
                "s": pa.array([f"category-{k}" for k in rng.integers(0, 500, rows)]),
            }
        )
        pq.write_table(table, tmp_path / f"part-{i}.parquet", row_group_size=group)
    one_group = pq.ParquetFile(tmp_path / "part-0.parquet").metadata.row_group(0).total_byte_size
    inputs = [InputColumn("x", DType.FLOAT, False), InputColumn("s", DType.STRING, False)]
    stream = open_source(tmp_path, inputs, batch_rows=4_000)
    base = pa.total_allocated_bytes()
    held, seen = 0, 0
    for _, feed in stream.batches():
        time.sleep(0.01)  # a consumer slower than the reader
        held = max(held, pa.total_allocated_bytes() - base)
        seen += feed_rows(feed)
    assert seen == 6 * rows
    assert held <= 4 * one_group


def test_builds_parity_check_reports_its_rows_to_the_progress_bar(tmp_path: Path) -> None:
    from test_bundle import CHURN_SPEC

    from featuredsl.parity.build import PARITY_SAMPLE_BATCH, build

    calls: list[tuple[str, int, int]] = []
    report = build(
        CHURN_SPEC,
        str(churn_csv()),
        tmp_path / "b",
        rows_progress=lambda what, done, total: calls.append((what, done, total)),
    )
    parity = [(done, total) for what, done, total in calls if what == "checking parity"]
    total = sum(report.parity.rows.values())  # the data sample and the edge cases
    assert parity[-1] == (total, total)
    assert len(parity) > report.parity.rows["data"] // PARITY_SAMPLE_BATCH  # batch by batch
    assert [done for done, _ in parity] == sorted(done for done, _ in parity)
