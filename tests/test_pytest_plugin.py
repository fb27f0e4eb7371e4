"""The pytest plugin: --featuredsl-parity DIR items, the featuredsl_parity fixture, cheap import."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from featuredsl.artifact.spec import Spec
from featuredsl.backends.numpy import codegen as numpy_backend

pytest_plugins = ["pytester"]

SPEC = """spec plugin_demo

input {
  x: float?
  s: string
}

feature x_filled = round(fill_null(x, median(x)), 1)
feature s_bucket = hash_bucket(s, 16)
"""
TRAIN = {"x": np.array([1.25, np.nan, 3.5]), "s": np.array(["a", "b", "é"], dtype=object)}


@contextmanager
def round_half_up() -> Iterator[None]:
    """A broken numpy emitter: the saved module then disagrees with the ONNX graph on .5 ties."""
    original = numpy_backend.EMITTERS["round_even"]
    numpy_backend.EMITTERS["round_even"] = lambda node, args, ctx: (
        f"np.floor(np.add({args[0]}, 0.5))"
    )
    try:
        yield
    finally:
        numpy_backend.EMITTERS["round_even"] = original


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("builds")
    Spec(SPEC).fit(TRAIN).save(root / "good")
    Spec(SPEC).fit(TRAIN).save(root / "good2")
    with round_half_up():
        Spec(SPEC).fit(TRAIN).save(root / "broken")
    return {
        "good": root / "good",
        "good2": root / "good2",
        "broken": root / "broken",
        "missing": root / "nope",
    }


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", *args)


def test_without_the_option_the_plugin_adds_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    result = run(pytester, "-v")
    result.assert_outcomes(passed=1)
    assert "featuredsl-parity" not in result.stdout.str()
    assert "featuredsl parity" not in result.stdout.str()


def test_the_option_is_documented(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--help")
    result.stdout.fnmatch_lines(["*--featuredsl-parity=DIR*"])


def test_one_item_per_build_directory(pytester: pytest.Pytester, builds: dict[str, Path]) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    result = run(
        pytester,
        "-v",
        "--featuredsl-parity",
        str(builds["good"]),
        "--featuredsl-parity",
        str(builds["good2"]),
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["*featuredsl parity:*good*good2*", "*featuredsl-parity*good]*PASSED*"]
    )


def test_a_disagreeing_build_fails_with_the_report(
    pytester: pytest.Pytester, builds: dict[str, Path]
) -> None:
    result = run(
        pytester,
        "--featuredsl-parity",
        str(builds["broken"]),
        "--featuredsl-parity",
        str(builds["good"]),
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*parity of*broken: VIOLATIONS*", "*x_filled*VIOLATIONS*"])
    assert "Traceback" not in result.stdout.str()


def test_a_missing_build_fails_with_a_clear_message(
    pytester: pytest.Pytester, builds: dict[str, Path]
) -> None:
    result = run(pytester, "--featuredsl-parity", str(builds["missing"]))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*parity of*nope*not a build directory*"])
    assert "Traceback" not in result.stdout.str()


def test_keyword_selection_applies_to_parity_items(
    pytester: pytest.Pytester, builds: dict[str, Path]
) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    result = run(pytester, "--featuredsl-parity", str(builds["broken"]), "-k", "test_one")
    result.assert_outcomes(passed=1, deselected=1)


def test_fixture_passes_and_returns_the_report(
    pytester: pytest.Pytester, builds: dict[str, Path]
) -> None:
    pytester.makepyfile(
        f"""
        def test_parity(featuredsl_parity):
            report = featuredsl_parity({str(builds["good"])!r})
            assert report.ok
            assert "edge cases" in report.rows
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_fixture_fails_with_the_report(pytester: pytest.Pytester, builds: dict[str, Path]) -> None:
    pytester.makepyfile(
        f"""
        def test_parity(featuredsl_parity):
            featuredsl_parity({str(builds["broken"])!r})
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*parity of*broken: VIOLATIONS*"])


def test_fixture_with_data_uses_the_rows_too(
    pytester: pytest.Pytester, builds: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fixture passes data= through to run_parity (checked here with a fake runner)."""
    # import_module, not `from featuredsl.parity import runner`: pytester may have dropped the
    # module from sys.modules after an earlier inner run, leaving a stale package attribute.
    runner = importlib.import_module("featuredsl.parity.runner")

    seen: list[object] = []

    class FakeReport:
        ok = False

        def format(self) -> str:
            return "fake report: VIOLATIONS in f"

    def fake_run_parity(directory: object, data: object = None) -> FakeReport:
        seen.append((directory, data))
        return FakeReport()

    monkeypatch.setattr(runner, "run_parity", fake_run_parity)
    pytester.makepyfile(
        """
        def test_parity(featuredsl_parity):
            featuredsl_parity("some/dir", data="rows.csv")
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*fake report: VIOLATIONS in f*"])
    assert seen == [("some/dir", "rows.csv")]


def test_importing_the_plugin_is_cheap() -> None:
    """It loads in every pytest run: no numpy, onnx or featuredsl internals at import time."""
    code = (
        "import sys, featuredsl.parity.pytest_plugin\n"
        "heavy = ('numpy', 'onnx', 'onnxruntime', 'featuredsl.artifact.spec', 'featuredsl.parity.runner')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
