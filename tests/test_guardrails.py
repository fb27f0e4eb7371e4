"""Guardrails a new user hits first (issue 13): clear messages, no silent loss, no surprises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from featuredsl import load
from featuredsl.artifact.spec import Spec
from featuredsl.cli.main import cli

SPEC = """spec small
input { x: float?, s: string? }
feature x_z = zscore(fill_null(x, median(x)))
feature s_oh = one_hot(fill_null(s, "none"), vocab(s))
feature third = fill_null(x, 0.0) / 3.0
"""


def frame(rows: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    x = rng.normal(5, 2, rows)
    x[::5] = np.nan
    return pd.DataFrame(
        {"x": x, "s": np.array(["a", "b", None], dtype=object)[np.arange(rows) % 3]}
    )


def test_transform_float32_and_as_frame_on_fitted_spec_and_build(tmp_path: Path) -> None:
    data = frame()
    fitted = Spec(SPEC).fit(data)
    wide = fitted.transform(data)
    narrow = fitted.transform(data, float32=True)
    assert narrow.dtype == np.float32  # what the float32 serving graph outputs
    np.testing.assert_array_equal(narrow, wide.astype(np.float32))
    assert not np.array_equal(narrow.astype(np.float64), wide)  # x / 3 is not a float32 value
    table = fitted.transform(data, as_frame=True)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == list(fitted.feature_names)
    np.testing.assert_array_equal(table.to_numpy(), wide)
    fitted.save(tmp_path / "b")
    built = load(tmp_path / "b")
    np.testing.assert_array_equal(built.transform(data, float32=True), narrow)
    pd.testing.assert_frame_equal(built.transform(data, as_frame=True), table)


def test_golden_on_a_new_directory_names_the_command_that_writes_it(tmp_path: Path) -> None:
    (tmp_path / "small.fdsl").write_text(SPEC, "utf-8")
    frame().to_csv(tmp_path / "train.csv", index=False)
    args = ["golden", str(tmp_path / "small.fdsl"), "--data", str(tmp_path / "train.csv")]
    args += ["--dir", str(tmp_path / "golden")]
    result = CliRunner().invoke(cli, args, standalone_mode=False)
    assert result.return_value == 1
    assert "has no golden files yet" in result.output
    assert " ".join(["featuredsl", *args, "--update"]) in result.output
    assert "make golden" not in result.output
    written = CliRunner().invoke(cli, [*args, "--update"], standalone_mode=False)
    assert written.return_value == 0, written.output
    again = CliRunner().invoke(cli, args, standalone_mode=False)
    assert again.return_value == 0 and "golden files match" in again.output


LONG_SPEC = """spec long
input { a_rather_long_input_column_name: float?, another_quite_long_column_name: float? }
feature a_feature_with_a_really_quite_long_descriptive_name = fill_null(
  a_rather_long_input_column_name, 0.0) + fill_null(another_quite_long_column_name, 0.0)
"""


def test_piped_cli_tables_keep_each_row_on_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "long.fdsl"
    spec.write_text(LONG_SPEC, "utf-8")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    command = [sys.executable, "-m", "featuredsl.cli.main", "check", str(spec)]
    piped = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert piped.returncode == 0, piped.stderr
    rows = [line for line in piped.stdout.splitlines() if "descriptive_name" in line]
    assert len(rows) == 1 and "another_quite_long_column_name" in rows[0]
    assert len(piped.stdout.splitlines()) == 6  # title, 3 header lines, the row, the bottom
    narrow = subprocess.run(
        command, capture_output=True, text=True, env={**env, "COLUMNS": "60"}, timeout=120
    )
    assert len(narrow.stdout.splitlines()) > 6  # an explicit width is still honoured


def test_feature_transformer_returns_a_named_frame_with_set_output() -> None:
    from featuredsl.runtime.sklearn import FeatureTransformer

    data = frame()
    ft = FeatureTransformer(SPEC).set_output(transform="pandas").fit(data)
    out = ft.transform(data)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(ft.get_feature_names_out())
    np.testing.assert_array_equal(out.to_numpy(), Spec(SPEC).fit(data).transform(data))
