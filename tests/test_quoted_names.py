"""Quoted column names (issue 13, item 1): a data column whose name is not a name (`mean radius`)
is declared and used in backticks, end to end, and the unquoted form's error says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

from featuredsl.artifact.load import load
from featuredsl.artifact.spec import Spec
from featuredsl.compiler.frontend import check_source
from featuredsl.language.diagnostics import DiagnosticError
from featuredsl.language.formatter import format_spec
from featuredsl.language.parser import parse
from featuredsl.parity.runner import run_parity
from featuredsl.runtime.serving import Session

SPEC = """spec cancer
input {
  `mean radius`: float
  `worst area`: float?
  `tumour's "site"`: string?
  `'); import os; ('`: int
}
feature radius_z = zscore(`mean radius`)
feature per_area = `mean radius` / fill_null(`worst area`, 1.0)
feature site_missing = is_null(`tumour's "site"`)
feature odd = `'); import os; ('` * 2
"""


def frame() -> pd.DataFrame:
    data = datasets.load_breast_cancer(as_frame=True).frame.iloc[:120].copy()
    data.loc[::9, "worst area"] = np.nan
    rng = np.random.default_rng(3)
    sites = np.array(["left", "right", None], dtype=object)[rng.integers(0, 3, len(data))]
    data['tumour\'s "site"'] = sites
    data["'); import os; ('"] = np.arange(len(data))
    return data


def test_quoted_names_check_format_and_keep_their_fingerprint() -> None:
    program = check_source(SPEC, "q.fdsl")
    assert [c.name for c in program.inputs] == [
        "mean radius",
        "worst area",
        'tumour\'s "site"',
        "'); import os; ('",
    ]
    formatted = format_spec(parse(SPEC, "q.fdsl"), SPEC)
    assert "`mean radius`: float" in formatted and "zscore(`mean radius`)" in formatted
    assert check_source(formatted, "q.fdsl").canonical_source == program.canonical_source
    # Backticks around a plain name are not needed, and are not kept.
    plain = "spec t\ninput { `x`: float }\nfeature f = `x` + 1.0\n"
    assert "`" not in check_source(plain, "t.fdsl").canonical_source


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (
            "spec t\ninput { mean radius: float }\nfeature f = 1.0\n",
            ["2:14", "expected ':' after the column name", "in backticks: `mean radius`"],
        ),
        (
            "spec t\ninput { `mean radius`: float }\nfeature f = mean radius\n",
            ["3:18", "in backticks: `mean radius`"],
        ),
        (
            "spec t\ninput { `x.is_null`: float }\nfeature f = 1.0\n",
            ["2:9", "ends in '.is_null'"],
        ),
        ("spec t\ninput { `a\\b`: float }\nfeature f = 1.0\n", ["2:9"]),
    ],
)
def test_the_unquoted_form_says_to_quote(text: str, needles: list[str]) -> None:
    with pytest.raises(DiagnosticError) as err:
        check_source(text, "t.fdsl")
    message = err.value.render()
    for needle in needles:
        assert needle in message, message


def test_quoted_names_build_serve_and_agree(tmp_path: Path) -> None:
    data = frame()
    fitted = Spec(SPEC).fit(data)
    source = fitted.numpy_source
    assert "import os" not in source.replace("'); import os; ('", "")  # only as a string
    compile(source, "features_train.py", "exec")
    fitted.save(tmp_path / "build")
    assert run_parity(tmp_path / "build", data).ok
    built = load(tmp_path / "build")
    np.testing.assert_array_equal(built.transform(data), fitted.transform(data))
    session = Session(tmp_path / "build", extra="ignore")
    row = data.iloc[0].to_dict()
    served = session.transform(row)
    np.testing.assert_allclose(served, fitted.transform(data.iloc[:1]), rtol=0, atol=1e-12)
