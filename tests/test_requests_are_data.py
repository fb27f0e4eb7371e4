"""Requests are data, never paths (issue 18, item 5).

`Session.transform("/path/rows.csv")` used to read and serve a local file. A serving request
that is a string, bytes or a path is now a DataError raised before anything touches the file
system; files are scored through the explicit `Session.transform_file` / `predict_file`.
FeatureTransformer (scikit-learn pipelines get served too) refuses paths the same way; the
training-side calls (`Spec.fit`, `featuredsl build --data`) keep reading files.
"""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_serving
from test_bundle import CHURN_SPEC, churn_csv, churn_spec

from featuredsl.errors import DataError
from featuredsl.ingest import read_table
from featuredsl.runtime.serving import Session
from featuredsl.runtime.sklearn import FeatureInputError, FeatureTransformer

ENTRY_POINTS = ("run", "transform", "predict", "validate")


build_dir = test_serving.build_dir  # the served churn build and its bundle (fixtures)
bundle_path = test_serving.bundle_path


@pytest.fixture(scope="module")
def session(bundle_path: Path) -> Session:
    return Session(bundle_path)


@pytest.fixture
def file_system_calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every stat and open while the fixture is active (each still runs, so that a failing
    test fails as an assertion, not inside pytest's own file handling)."""
    calls: list[Any] = []

    def spy(real: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            calls.append(args[:1])
            return real(*args, **kwargs)

        return recorded

    for module, name in ((os, "stat"), (os, "open"), (builtins, "open"), (io, "open")):
        monkeypatch.setattr(module, name, spy(getattr(module, name)))
    return calls


def read_table_of(path: Path) -> Any:
    return read_table(path, churn_spec().inputs)


def _requests() -> list[Any]:
    path = churn_csv()
    return [str(path), path, str(path).encode(), "/etc/passwd", "rows.csv", ""]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("request_", _requests(), ids=repr)
def test_a_path_request_is_refused_without_touching_the_file_system(
    session: Session, entry: str, request_: Any, file_system_calls: list[Any]
) -> None:
    with pytest.raises(DataError) as err:
        getattr(session, entry)(request_)
    assert file_system_calls == [], "the request touched the file system"
    message = str(err.value)
    assert message.startswith("request: is a "), message
    assert "never read as a file path" in message
    assert "Session.transform_file(path)" in message


@pytest.mark.parametrize(
    ("request_", "needle"),
    [
        ([str(churn_csv())], "row 0 is a str, not a mapping"),
        # One row dict (a single-row request): the path is the value of 'age', a str.
        (
            {**test_serving.good_row(), "age": str(churn_csv())},
            "column 'age', row 0: expected float values, found str",
        ),
        ({"age": str(churn_csv())}, "row 0: missing column 'income'"),
    ],
)
def test_paths_inside_a_request_are_values_not_files(
    session: Session, request_: Any, needle: str, file_system_calls: list[Any]
) -> None:
    with pytest.raises(DataError, match=needle):
        session.transform(request_)
    assert file_system_calls == []


def test_transform_file_is_the_explicit_call(session: Session) -> None:
    table = read_table(churn_csv(), session.inputs).slice(0, 50)
    expected = session.transform(table.drop(["churned"]).to_pandas())
    got = session.transform_file(churn_csv())[:50]
    assert np.array_equal(got, expected)
    assert set(session.predict_file(churn_csv())) == {"score"}


def test_transform_file_names_a_missing_file(session: Session, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        session.transform_file(tmp_path / "missing.csv")


def test_transform_file_keeps_max_rows(build_dir: Path) -> None:
    with pytest.raises(DataError, match="more than this session's max_rows=5"):
        Session(build_dir, max_rows=5).transform_file(churn_csv())


@pytest.mark.parametrize("x", [str(churn_csv()), churn_csv()], ids=["str", "Path"])
def test_feature_transformer_refuses_a_path_as_x(x: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_table(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("FeatureTransformer read a file")

    monkeypatch.setattr("featuredsl.ingest.feed.read_table", read_table)
    transformer = FeatureTransformer(CHURN_SPEC.read_text(encoding="utf-8"))
    with pytest.raises(FeatureInputError, match="never reads files"):
        transformer.fit(x)
    fitted = FeatureTransformer(CHURN_SPEC.read_text(encoding="utf-8")).fit(
        read_table_of(churn_csv())
    )
    with pytest.raises(FeatureInputError, match=r"featuredsl\.ingest\.read_table"):
        fitted.transform(x)
