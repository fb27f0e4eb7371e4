"""The Dask engine on a real LocalCluster of 2 worker processes: the fitted constants and the whole
build equal the single-process fit byte for byte, and the transform writes the same features."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from test_streaming import SPEC, frame, write_dataset

import featuredsl
from featuredsl.artifact.spec import Spec

distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")

from featuredsl.distributed.dask import fit_dask, transform_on_dask  # noqa: E402


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return frame(900, seed=11)


@pytest.mark.parametrize("tasks", [None, 1, 5, 50])
def test_fit_on_a_partitioned_dataset_equals_the_single_process_fit(
    client: Any, data: pd.DataFrame, tmp_path: Path, tasks: int | None
) -> None:
    """Whatever the number of tasks per pass (runs of units merged on the workers)."""
    write_dataset(tmp_path / "ds", data, parts=3, row_group=40)
    single = Spec(SPEC).fit(data)
    fitted, sample = fit_dask(
        SPEC,
        str(tmp_path / "ds"),
        client=client,
        partition_rows=100,
        batch_rows=30,
        keep=lambda rows: np.arange(0, rows, 7),
        tasks=tasks,
    )
    assert fitted.constants == single.constants
    assert fitted.files() == single.files()  # kit sample and data quality included
    expected = single.feed(data)
    for name, values in sample.items():
        np.testing.assert_array_equal(values, expected[name][::7])


def test_units_are_grouped_into_runs_of_about_equal_rows() -> None:
    from featuredsl.distributed.dask import _groups

    lengths = [100, 100, 100, 40, 300, 60, 100]
    for tasks in range(1, 10):
        groups = _groups(lengths, tasks)
        assert [i for g in groups for i in g] == list(range(len(lengths)))  # in order, all
        assert 1 <= len(groups) <= min(tasks, len(lengths)) and all(groups)
        # each run but the last holds at least its share of the rows so far
        total, done = sum(lengths), 0
        for k, group in enumerate(groups[:-1]):
            done += sum(lengths[i] for i in group)
            assert total * (k + 1) <= done * tasks
    assert len(_groups(lengths, 3)) == 3 and len(_groups([5] * 10, 4)) == 4


def test_fit_on_a_dask_dataframe_equals_the_single_process_fit(
    client: Any, data: pd.DataFrame
) -> None:
    frame_ = dd.from_pandas(data, npartitions=4)
    fitted, _ = fit_dask(SPEC, frame_, client=client)
    assert fitted.files() == Spec(SPEC).fit(data).files()


def test_transform_writes_the_features_in_order(
    client: Any, data: pd.DataFrame, tmp_path: Path
) -> None:
    write_dataset(tmp_path / "ds", data, parts=3, row_group=40)
    Spec(SPEC).fit(data).save(tmp_path / "build")
    rows = transform_on_dask(
        tmp_path / "build",
        str(tmp_path / "ds"),
        tmp_path / "out",
        scheduler=client,
        partition_rows=120,
    )
    assert rows == len(data)
    assert len(list((tmp_path / "out").iterdir())) > 3
    got = pq.read_table(tmp_path / "out").to_pandas()
    expected = featuredsl.load(tmp_path / "build").transform(data, as_frame=True)
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())


def test_cli_engine_dask_with_a_scheduler_address(
    client: Any, data: pd.DataFrame, tmp_path: Path
) -> None:
    write_dataset(tmp_path / "ds", data, parts=2, row_group=100)
    (tmp_path / "s.fdsl").write_text(SPEC)
    address = client.scheduler.address

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "featuredsl.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=300,
        )

    built = run(
        "build",
        str(tmp_path / "s.fdsl"),
        "--data",
        str(tmp_path / "ds"),
        "--out",
        str(tmp_path / "b"),
        "--engine",
        "dask",
        "--scheduler",
        address,
    )
    assert built.returncode == 0, built.stderr
    local = run(
        "build",
        str(tmp_path / "s.fdsl"),
        "--data",
        str(tmp_path / "ds"),
        "--out",
        str(tmp_path / "b_local"),
    )
    assert local.returncode == 0, local.stderr
    manifest = (tmp_path / "b" / "manifest.json").read_bytes()
    assert manifest == (tmp_path / "b_local" / "manifest.json").read_bytes()
    done = run(
        "transform",
        str(tmp_path / "b"),
        "--data",
        str(tmp_path / "ds"),
        "--out",
        str(tmp_path / "f"),
        "--engine",
        "dask",
        "--scheduler",
        address,
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {len(data):,} rows" in done.stdout
