"""The build's data-quality report (featuredsl.artifact.quality): each finding, the manifest
entry and --strict, and nulls of a categorical input that a one-hot files under <oov>."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from featuredsl.artifact.spec import Spec


def findings(source: str, feed: dict[str, np.ndarray]) -> tuple[str, ...]:
    fitted = Spec(source).fit(feed)
    assert fitted.quality is not None
    return fitted.quality.findings


def test_nan_and_infinite_shares_are_findings() -> None:
    x = np.array([-5.0, 1.0, 2.0, 3.0] * 25)
    found = findings("spec q\ninput { x: float }\nfeature l = log1p(x)\n", {"x": x})
    assert found == ("feature column 'l' is NaN on 25.0% of the training rows",)
    clean = findings("spec q\ninput { x: float }\nfeature l = log1p(abs(x))\n", {"x": x})
    assert clean == ()


def test_constant_features_and_all_null_inputs_are_findings() -> None:
    feed = {"x": np.array([1.0, 2.0, 3.0]), "y": np.full(3, np.nan)}
    source = (
        "spec q\ninput { x: float, y: float? }\nfeature c = x * 0\nfeature f = fill_null(y, 0.0)\n"
    )
    found = findings(source, feed)
    assert "feature column 'c' is constant (0.0 on every row)" in found
    assert "input 'y' is null on every training row" in found


def test_a_one_hot_with_every_row_in_one_column_is_a_finding() -> None:
    feed = {"s": np.array(["a"] * 10, dtype=object)}
    found = findings("spec q\ninput { s: string }\nfeature o = one_hot(s, vocab(s))\n", feed)
    assert found == ("one-hot feature 'o' puts every training row in one column",)


PLAN = {
    "plan": np.array(["pro", "", "free", "pro", "", "free"], dtype=object),
    "plan.is_null": np.array([False, True, False, False, True, False]),
}


def test_nulls_filed_under_oov_are_a_finding_with_the_fix() -> None:
    source = 'spec q\ninput { plan: string? }\nfeature o = one_hot(fill_null(plan, "none"), vocab(plan))\n'
    fitted = Spec(source).fit(PLAN)
    assert fitted.feature_names == ("o[free]", "o[pro]", "o[<oov>]")
    assert fitted.transform(PLAN)[:, 2].tolist() == [0, 1, 0, 0, 1, 0]
    assert fitted.quality is not None
    (finding,) = fitted.quality.findings
    assert "'o' puts the 2 training rows where 'plan' is null in its <oov> column" in finding
    assert 'vocab(fill_null(plan, "none"))' in finding


def test_a_vocabulary_fitted_on_the_filled_column_keeps_a_null_category() -> None:
    source = (
        'spec q\ninput { plan: string? }\nlet p = fill_null(plan, "none")\n'
        "feature o = one_hot(p, vocab(p))\n"
    )
    fitted = Spec(source).fit(PLAN)
    assert fitted.feature_names == ("o[free]", "o[none]", "o[pro]", "o[<oov>]")
    assert fitted.transform(PLAN)[:, 1].tolist() == [0, 1, 0, 0, 1, 0]
    assert fitted.quality is not None and fitted.quality.findings == ()
    unseen = {"plan": np.array(["gold", ""], dtype=object), "plan.is_null": np.array([False, True])}
    assert fitted.transform(unseen).tolist() == [[0, 0, 0, 1], [0, 1, 0, 0]]


def test_findings_are_in_the_manifest_and_strict_refuses(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from featuredsl.cli.main import cli
    from featuredsl.errors import DataError

    spec = tmp_path / "q.fdsl"
    spec.write_text("spec q\ninput { x: float }\nfeature l = log1p(x)\n")
    data = tmp_path / "d.csv"
    data.write_text("x\n-5\n1\n2\n3\n")
    args = ["build", str(spec), "--data", str(data), "--out", str(tmp_path / "b")]
    built = CliRunner().invoke(cli, args, standalone_mode=False)
    assert built.return_value == 0, built.output
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["data_quality"]["findings"] == [
        "feature column 'l' is NaN on 25.0% of the training rows"
    ]
    args[-1] = str(tmp_path / "strict")
    refused = CliRunner().invoke(cli, [*args, "--strict"], standalone_mode=False)
    assert isinstance(refused.exception, DataError)
    assert "fails the data-quality checks (--strict)" in str(refused.exception)
    assert not (tmp_path / "strict").exists()


@pytest.mark.parametrize("nulls", [0, 1])
def test_no_finding_when_the_input_has_no_null_or_a_null_is_in_vocabulary(nulls: int) -> None:
    plan = np.array(["pro", "free", "none", ""][: 3 + nulls], dtype=object)
    feed = {"plan": plan, "plan.is_null": np.arange(len(plan)) == 3}
    source = 'spec q\ninput { plan: string? }\nfeature o = one_hot(fill_null(plan, "none"), vocab(plan))\n'
    assert findings(source, feed) == ()
