"""Streaming fit and transform: a file, directory, glob or partitioned Parquet dataset read in
batches gives the constants, the artifacts and the features of a fit on all rows at once, bit for
bit, whatever the batch size, the chunking and the order of the batches."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featuredsl.artifact.spec import Spec
from featuredsl.backends.numpy.evaluate import evaluate
from featuredsl.errors import DataError
from featuredsl.fit.fitting import fit_batches, fit_program
from featuredsl.ingest.batches import open_source

SPEC = """spec stream
input { age: float?, plan: string?, clicks: int, t: timestamp }
let age_f = fill_null(age, median(age))
feature age_z = zscore(age_f)
feature age_q = bucketize(age_f, quantiles(age_f, 7))
feature plan_oh = one_hot(fill_null(plan, "none"), vocab(plan, top=3))
feature age_m = maxabs(age_f) + std(age_f) - mean(age_f) + var(age_f) + max(age_f)
feature plan_mode = fill_null(plan, "none") == mode(fill_null(plan, "none"))
feature clicks_s = minmax(float(clicks)) + float(min(clicks))
feature clicks_c = float(clicks) / float(count(clicks)) + robust(float(clicks))
feature hour = hour(t)
"""


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` rows with nulls, whose first row has no null (every analyzer has a value)."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            # heavy cancellation and a wide range: a float sum that depends on order would show
            "age": np.where(
                rng.random(rows) < 0.1,
                np.nan,
                rng.normal(40, 10, rows) * 10.0 ** rng.integers(-8, 9, rows),
            ),
            "plan": pd.array(
                np.where(rng.random(rows) < 0.2, None, rng.choice(["a", "b", "c", "d", "é"], rows)),
                dtype=object,
            ),
            "clicks": rng.poisson(3, rows),
            "t": pd.to_datetime(rng.integers(1.6e9, 1.7e9, rows), unit="s", utc=True),
        }
    )
    data.loc[0, "age"], data.loc[0, "plan"] = 41.5, "b"
    return data


def constants_of(fitted: tuple[object, list[object]]) -> list[object]:
    return fitted[1]


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(min_value=1, max_value=400),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    seed=st.integers(min_value=0, max_value=2**16),
    order_seed=st.integers(min_value=0, max_value=2**16),
)
def test_any_chunking_and_order_gives_the_same_constants(
    rows: int, cuts: list[int], seed: int, order_seed: int
) -> None:
    spec = Spec(SPEC)
    feed = spec.feed(frame(rows, seed))
    whole = fit_program(spec.program, feed, spec.builder, evaluate)[1]
    bounds = sorted({0, rows, *(c % (rows + 1) for c in cuts)})
    chunks = [
        {name: values[a:b] for name, values in feed.items()} for a, b in itertools.pairwise(bounds)
    ]
    np.random.default_rng(order_seed).shuffle(chunks)  # type: ignore[arg-type]
    other = Spec(SPEC)
    streamed = fit_batches(other.program, lambda: chunks, other.builder, evaluate)[1]
    assert streamed == whole


def write_dataset(root: Path, data: pd.DataFrame, parts: int, row_group: int) -> None:
    table = pa.Table.from_pandas(data, preserve_index=False)
    size = -(-len(data) // parts)
    for i in range(parts):
        folder = root / f"part={i}"
        folder.mkdir(parents=True)
        pq.write_table(
            table.slice(i * size, size), folder / "data.parquet", row_group_size=row_group
        )


@pytest.fixture(scope="module")
def reference() -> tuple[pd.DataFrame, dict[str, bytes]]:
    data = frame(700, seed=3)
    fitted = Spec(SPEC).fit(data)
    return data, fitted.files()


@pytest.mark.parametrize("batch_rows", [7, 33, 4096])
def test_partitioned_parquet_gives_byte_identical_artifacts(
    tmp_path: Path, reference: tuple[pd.DataFrame, dict[str, bytes]], batch_rows: int
) -> None:
    data, files = reference
    write_dataset(tmp_path / "ds", data, parts=3, row_group=50)
    fitted = Spec(SPEC).fit(tmp_path / "ds", batch_rows=batch_rows)
    assert fitted.files() == files


def test_glob_and_csv_directory_give_the_same_artifacts(
    tmp_path: Path, reference: tuple[pd.DataFrame, dict[str, bytes]]
) -> None:
    data, files = reference
    (tmp_path / "csv").mkdir()
    for i, start in enumerate(range(0, len(data), 250)):
        data.iloc[start : start + 250].to_csv(tmp_path / "csv" / f"{i:02d}.csv", index=False)
    (tmp_path / "csv" / "_SUCCESS").write_text("")
    assert Spec(SPEC).fit(str(tmp_path / "csv"), batch_rows=64).files() == files
    assert Spec(SPEC).fit(str(tmp_path / "csv" / "*.csv"), batch_rows=100).files() == files


def test_a_bad_value_names_its_row_in_the_whole_source(tmp_path: Path) -> None:
    data = frame(300)
    text = data.astype({"clicks": object})
    text.loc[237, "clicks"] = "12x"
    text.iloc[:150].to_csv(tmp_path / "a.csv", index=False)
    text.iloc[150:].to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(
        DataError, match=r"column 'clicks', row 237: '12x' is not a decimal integer"
    ):
        Spec(SPEC).fit(str(tmp_path / "*.csv"), batch_rows=16)
    clicks = data["clicks"].astype("Int64")
    clicks[201] = pd.NA  # clicks is declared `int`, not `int?`
    table = pa.Table.from_pandas(data.assign(clicks=clicks), preserve_index=False)
    pq.write_table(table, tmp_path / "bad.parquet", row_group_size=64)
    with pytest.raises(DataError, match=r"column 'clicks', row 201"):
        Spec(SPEC).fit(tmp_path / "bad.parquet", batch_rows=10)


def test_no_row_is_dropped_and_order_is_kept(tmp_path: Path) -> None:
    data = frame(500, seed=9)
    write_dataset(tmp_path / "ds", data, parts=4, row_group=37)
    stream = open_source(tmp_path / "ds", Spec(SPEC).inputs, batch_rows=29)
    offsets, clicks = [], []
    for offset, feed in stream.batches():
        assert len(feed["clicks"]) <= 29
        offsets.append(offset)
        clicks.append(feed["clicks"])
    assert stream.rows == 500
    np.testing.assert_array_equal(np.concatenate(clicks), data["clicks"].to_numpy())
    assert offsets == sorted(offsets)


def test_missing_paths_and_mixed_formats_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or directory"):
        open_source(tmp_path / "nope", Spec(SPEC).inputs)
    with pytest.raises(DataError, match="no file matches"):
        open_source(str(tmp_path / "*.parquet"), Spec(SPEC).inputs)
    frame(5).to_csv(tmp_path / "a.csv", index=False)
    frame(5).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(DataError, match="mixes Parquet and CSV"):
        open_source(tmp_path, Spec(SPEC).inputs)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "featuredsl.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_build_and_transform_commands_stream_a_dataset(tmp_path: Path) -> None:
    data = frame(600, seed=5)
    write_dataset(tmp_path / "ds", data, parts=3, row_group=70)
    (tmp_path / "s.fdsl").write_text(SPEC)
    built = run(
        "build",
        str(tmp_path / "s.fdsl"),
        "--data",
        str(tmp_path / "ds"),
        "--out",
        str(tmp_path / "b"),
        "--batch-rows",
        "100",
    )
    assert built.returncode == 0, built.stderr
    done = run(
        "transform",
        str(tmp_path / "b"),
        "--data",
        str(tmp_path / "ds"),
        "--out",
        str(tmp_path / "f.parquet"),
        "--batch-rows",
        "64",
    )
    assert done.returncode == 0, done.stderr
    assert "wrote 600 rows" in done.stdout
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    import featuredsl

    expected = featuredsl.load(tmp_path / "b").transform(data, as_frame=True)
    got = pq.read_table(tmp_path / "f.parquet").to_pandas()
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())
    assert pq.read_schema(tmp_path / "f.parquet").metadata[b"featuredsl.spec"] == b"stream"


WIDE = """spec wide
input { tail: string, dist: float }
feature tail_oh = one_hot(tail, vocab(tail))
feature dist_z = zscore(dist)
"""


def wide_frame(rows: int, categories: int) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    names = np.array([f"N{i:04d}" for i in range(categories)], dtype=object)
    return pd.DataFrame(
        {"tail": names[rng.integers(0, categories, rows)], "dist": rng.random(rows)}
    )


def test_sparse_transform_equals_the_dense_one(tmp_path: Path) -> None:
    from scipy import sparse

    from featuredsl.runtime.sklearn import FeatureTransformer

    data = wide_frame(3000, 1500)
    fitted = Spec(WIDE).fit(data)
    dense = fitted.transform(data)
    got = fitted.transform(data, sparse=True)
    assert sparse.isspmatrix_csr(got) and got.shape == dense.shape
    assert got.nnz == np.count_nonzero(dense)
    np.testing.assert_array_equal(got.toarray(), dense)
    transformer = FeatureTransformer(WIDE, sparse=True).fit(data)
    np.testing.assert_array_equal(transformer.transform(data).toarray(), dense)
    fitted.save(tmp_path / "b")
    import featuredsl

    loaded = featuredsl.load(tmp_path / "b").transform(data, sparse=True, float32=True)
    np.testing.assert_array_equal(loaded.toarray(), dense.astype(np.float32))
    with pytest.raises(ValueError, match="not both"):
        fitted.transform(data, sparse=True, as_frame=True)


def test_a_wide_feature_gets_a_build_warning(tmp_path: Path) -> None:
    wide_frame(8000, 1200).to_parquet(tmp_path / "w.parquet")
    (tmp_path / "w.fdsl").write_text(WIDE)
    built = run(
        "build",
        str(tmp_path / "w.fdsl"),
        "--data",
        str(tmp_path / "w.parquet"),
        "--out",
        str(tmp_path / "b"),
    )
    assert built.returncode == 0, built.stderr
    assert "warning: feature 'tail_oh' has 1,200 columns (more than 1,000)" in built.stdout


def test_profile_skew_parity_and_shadow_read_a_dataset_directory(tmp_path: Path) -> None:
    data = frame(600, seed=21)
    write_dataset(tmp_path / "ds", data, parts=3, row_group=50)
    data.to_parquet(tmp_path / "all.parquet")
    (tmp_path / "s.fdsl").write_text(SPEC)
    build_dir = str(tmp_path / "b")
    assert (
        run(
            "build", str(tmp_path / "s.fdsl"), "--data", str(tmp_path / "ds"), "--out", build_dir
        ).returncode
        == 0
    )
    ds = str(tmp_path / "ds")
    whole = run(
        "profile",
        build_dir,
        "--data",
        str(tmp_path / "all.parquet"),
        "--out",
        str(tmp_path / "p1.json"),
    )
    parts = run(
        "profile", build_dir, "--data", ds, "--out", str(tmp_path / "p2.json"), "--batch-rows", "64"
    )
    assert whole.returncode == 0 and parts.returncode == 0, parts.stderr
    assert "600 rows" in parts.stdout
    # (the profile's moments are merged with Chan's formula: their last bits follow the slicing)
    import json

    one, two = (json.loads((tmp_path / f"p{i}.json").read_text()) for i in (1, 2))
    assert one["groups"].keys() == two["groups"].keys()
    skew = run(
        "skew", "--profile", str(tmp_path / "p1.json"), "--current", ds, "--build", build_dir
    )
    assert skew.returncode == 0, skew.stderr
    parity = run("parity", build_dir, "--data", str(tmp_path / "ds" / "*" / "*.parquet"))
    assert parity.returncode == 0, parity.stderr
    assert "rows: data 600," in parity.stdout
    shadow = run("shadow", build_dir, build_dir, "--data", ds)
    assert shadow.returncode == 0, shadow.stderr


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.sampled_from([0.0, -0.0, 1.5, 1.5000000000000002, -3.0, 1e300, 5e-324]),
        ),
        min_size=1,
        max_size=300,
    ),
    cap=st.integers(min_value=1, max_value=8),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=6),
    level=st.floats(min_value=0.0, max_value=1.0),
)
def test_quantiles_over_more_distinct_values_than_the_cap_are_still_exact(
    values: list[float], cap: int, cuts: list[int], level: float
) -> None:
    """Over DISTINCT_CAP distinct values the quantile analyzers bracket their ranks with extra
    passes (each accumulator through JSON, as Dask ships it): same bits as np.quantile."""
    import json

    from featuredsl.fit import analyzers
    from featuredsl.fit.analyzers import NextPass, from_json, make_analyzer, to_json

    data = np.array(values, dtype=np.float64)
    present = data[~np.isnan(data)] + 0.0
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    saved = analyzers.DISTINCT_CAP
    analyzers.DISTINCT_CAP = cap
    try:
        for name, params, expected in (
            ("median", {}, lambda v: float(np.quantile(v, 0.5))),
            ("quantile", {"q": level}, lambda v: float(np.quantile(v, level))),
            (
                "quantiles",
                {"n": 4},
                lambda v: tuple(np.unique(np.quantile(v, [0.25, 0.5, 0.75])).tolist()),
            ),
        ):
            analyzer = make_analyzer(name, params)
            plan, passes = None, 0
            while True:
                passes += 1
                parts = []
                for a, b in itertools.pairwise(bounds):
                    empty = (
                        analyzer.create_accumulator()
                        if plan is None
                        else analyzer.refined_accumulator(plan)
                    )
                    acc = analyzer.add_input(empty, data[a:b])
                    parts.append(from_json(json.loads(json.dumps(to_json(acc)))))
                result = analyzer.extract_output(analyzer.merge_accumulators(parts[::-1]))
                if not isinstance(result, NextPass):
                    break
                plan = result.plan
            assert passes <= 5
            if not present.size:
                continue
            with np.errstate(invalid="ignore"):
                want = expected(present)
            assert np.array_equal(np.array(result), np.array(want), equal_nan=True), (
                name,
                result,
                want,
            )
    finally:
        analyzers.DISTINCT_CAP = saved


def test_a_fit_that_brackets_its_quantiles_builds_the_same_artifacts(
    tmp_path: Path,
    reference: tuple[pd.DataFrame, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from featuredsl.fit import analyzers

    data, files = reference
    write_dataset(tmp_path / "ds", data, parts=2, row_group=64)
    monkeypatch.setattr(analyzers, "DISTINCT_CAP", 16)  # far fewer than the 600+ distinct ages
    assert Spec(SPEC).fit(tmp_path / "ds", batch_rows=50).files() == files


def test_an_undeclared_csv_column_whose_type_changes_between_blocks_is_not_read(
    tmp_path: Path,
) -> None:
    rows = 300_000  # more than one 4 MiB block of the streaming CSV reader
    lines = [f"{i * 0.5},{i if i < rows - 5 else 'word'}" for i in range(rows)]
    (tmp_path / "a.csv").write_text("x,extra\n" + "\n".join(lines) + "\n")
    spec = Spec("spec m\ninput { x: float }\nfeature z = zscore(x)\n")
    assert spec.fit(tmp_path / "a.csv", batch_rows=50_000).constants[0].value == 74999.75
