"""A deliberately broken emitter must be caught: by a direct parity check, by the parity runner
on a build directory, and by the differential fuzzer.

The breakage: the numpy backend rounds half up (floor(x + 0.5)) instead of half to even, while
the ONNX graph keeps onnx Round (half to even). They differ only on .5 ties.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import Phase, find, settings

from featuredsl.artifact.spec import Spec
from featuredsl.backends.numpy import codegen as numpy_backend
from featuredsl.compiler.boundaries import feature_bounds
from featuredsl.compiler.types import DType
from featuredsl.parity import fuzz
from featuredsl.parity.compare import compare

SPEC = """spec ties

input {
  x: float
}

feature r = round(x)
feature r2 = round(x, 1)
"""
TIES = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.25, 0.49999999999999994, 1e16, -0.0, math.inf])


def round_half_up(node: object, args: list[str], ctx: object) -> str:
    return f"np.floor(np.add({args[0]}, 0.5))"


@contextmanager
def broken_rounding() -> Iterator[None]:
    original = numpy_backend.EMITTERS["round_even"]
    numpy_backend.EMITTERS["round_even"] = round_half_up
    try:
        yield
    finally:
        numpy_backend.EMITTERS["round_even"] = original


def direct_comparison_ok() -> bool:
    fitted = Spec(SPEC).fit({"x": TIES})
    feed = {"x": TIES}
    expected = fitted.transform_feed(feed)
    actual = fuzz.run_session(fuzz.onnx_session(fitted.onnx_model()), feed)
    return compare(
        fitted.feature_names, expected, actual, feature_bounds(fitted.program.features)
    ).ok


def test_direct_compare_agrees_with_the_real_emitter() -> None:
    assert direct_comparison_ok()


def test_direct_compare_catches_round_half_up() -> None:
    with broken_rounding():
        assert not direct_comparison_ok()


def test_parity_runner_catches_round_half_up(tmp_path: Path) -> None:
    from featuredsl.parity.runner import run_parity

    with broken_rounding():
        Spec(SPEC).fit({"x": np.array([0.1, 3.0])}).save(tmp_path / "build")
    report = run_parity(tmp_path / "build")  # .5 ties are among the runner's edge cases
    assert not report.ok
    assert "r:" in report.format()


def _caught_by_broken_emitter(case: fuzz.FuzzCase) -> bool:
    """A case that passes with the real emitter and fails with the broken one."""
    with broken_rounding():
        if not fuzz.case_fails(case):
            return False
    return not fuzz.case_fails(case)


def test_fuzzer_finds_round_half_up() -> None:
    # The fuzzer pointed at the suspect op (round drawn 30x as often as any other op) must find a
    # spec and data that tell the two emitters apart within a bounded number of random cases.
    budget = settings(fuzz.FUZZ_SETTINGS, max_examples=300, phases=(Phase.generate,))
    cases = fuzz.fuzz_cases(focus="float", weights={"round": 30})
    case = find(cases, _caught_by_broken_emitter, settings=budget)
    assert "round(" in case.spec


def test_fuzzer_counts_a_half_up_case_as_a_failure() -> None:
    case = fuzz.FuzzCase(SPEC, (fuzz.Column("x", DType.FLOAT, False),), {"x": TIES}, {"x": TIES})
    fuzz.run_case(case)
    with (
        broken_rounding(),
        pytest.raises(fuzz.ParityViolation, match="numpy module and ONNX graph disagree"),
    ):
        fuzz.run_case(case)
