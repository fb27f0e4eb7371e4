"""Every valid spec builds: the constant pool and the parity edge cases are total over every
constant a spec can contain (negative, zero, subnormal, inf, NaN, huge, int64 extremes) and over
every value inside the literal ranges the registry declares.

Issue 18, item 2: `feature f = round(x / -7)` passed `check`, then `build` died with
"ValueError: math domain error" (the pool took log10 of the divisor).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_literals import literal_text, ranged_params, with_literal

from featuredsl.artifact.conformance import edge_cases
from featuredsl.artifact.manifest import decode_pool, encode_pool
from featuredsl.compiler.boundaries import constant_pool
from featuredsl.compiler.docgen import example_spec
from featuredsl.compiler.frontend import check_source
from featuredsl.compiler.ir import Program
from featuredsl.compiler.op import INT64_MAX, INT64_MIN, Op, Param
from featuredsl.compiler.types import DType
from featuredsl.language.diagnostics import DiagnosticError
from featuredsl.parity.build import build

SPECIAL_FLOATS = (
    *(0.0, -0.0, 7.0, -7.0, 1e-320, -1e-320, 5e-324, -5e-324, 2.2250738585072014e-308),
    *(1.7976931348623157e308, -1.7976931348623157e308, 1e300, 10.0, 100.0, 1e22, 1e-22),
    *(math.inf, -math.inf, math.nan),
)
SPECIAL_INTS = (0, 1, -1, 7, -7, 10, 100, INT64_MAX, INT64_MIN, 2**53 + 1)
# Every place a constant can sit in an expression: compared with, clipped to, bucketed and
# looked up by, divided and multiplied by inside round(), filled in, raised to.
TEMPLATES = (
    "round(x / C)",
    "round(x * C)",
    "round(x / C, 2)",
    "round(n / C, -3)",
    "x < C",
    "n >= C",
    "x == C",
    "min(x, C)",
    "max(n, C)",
    "clip(x, C, 3)",
    "bucketize(x, [C])",
    "bucketize(x, [-1e308, C])",
    "lookup(n, [C])",
    "fill_null(y, C)",
    "fill_null(null_if(x, C), 0)",
    "if x > C then C else x",
    "pow(x, C)",
    "x % C",
    "n // C",
    "round(C)",
    "round(C, 22)",
)
FUZZ = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def pool_and_edges(program: Program) -> dict[str, np.ndarray]:
    """What a build does with a program's constants: the manifest's pool (as JSON that strict
    parsers accept) and the edge-case feed read back from it."""
    pool = constant_pool(program)
    stored = json.loads(json.dumps(encode_pool(pool), allow_nan=False))
    inputs = [
        {"name": c.name, "dtype": str(c.dtype), "nullable": c.nullable} for c in program.inputs
    ]
    return edge_cases.edge_case_feed(inputs, decode_pool(stored))


def check_total(text: str) -> Program | None:
    """Check the spec and derive its edge cases: a diagnostic or success, never another error."""
    try:
        program = check_source(text, "total.fdsl")
    except DiagnosticError:
        return None
    feed = pool_and_edges(program)
    assert feed and all(len(column) for column in feed.values())
    return program


# ---------------------------------------------------------------- the smallest input
def test_round_of_a_negative_divisor_gives_the_digits_of_its_magnitude() -> None:
    program = check_source(example_spec("round(x / -7)"))
    assert constant_pool(program)["round_digits"] == [-1]


@pytest.mark.parametrize(
    ("expression", "digits"),
    [
        ("round(x, 2)", [2]),
        ("round(x / 100)", [-2]),
        ("round(x * -100)", [2]),
        ("round(x)", []),
        # round(x, -n) lowers to fmod(x, 10**n) (CPython's exact rounding): no round_even scale.
        ("round(x, -3)", []),
        ("x % 7", []),
        ("round(x * inf)", []),
        ("round(x / nan)", []),
        ("round(x / 5e-324)", [308]),  # 10**323 is beyond a double: clamped
    ],
)
def test_round_digits_are_total(expression: str, digits: list[int]) -> None:
    assert constant_pool(check_source(example_spec(expression)))["round_digits"] == digits


@pytest.mark.parametrize(
    "divisor", ["-7", "5e-324", "1e-320", "inf", "-inf", "nan", "-1e308", "1e308"]
)
def test_every_valid_divisor_builds_with_parity(tmp_path: Path, divisor: str) -> None:
    spec = tmp_path / "t.fdsl"
    spec.write_text(f"spec t\ninput {{\n  x: float\n}}\nfeature f = round(x / {divisor})\n")
    data = {"x": np.array([1.0, -3.5, 10.5, 0.0])}
    report = build(spec, data, tmp_path / "out")
    assert report.parity.ok
    assert (tmp_path / "out" / "manifest.json").exists()


def test_a_manifest_with_any_round_digits_gives_edge_cases() -> None:
    # A pool is read back from a manifest; digits far outside any double's range stay total.
    for digits in (-400, -309, -308, 0, 308, 309, 400):
        values = edge_cases.float_candidates({"round_digits": [digits]})
        assert values and all(isinstance(v, float) for v in values)


# ---------------------------------------------------------------- random constants
constants = st.one_of(
    st.sampled_from(SPECIAL_FLOATS),
    st.sampled_from(SPECIAL_INTS),
    st.floats(),  # every float, NaN, inf and subnormals included
    st.integers(INT64_MIN, INT64_MAX),
)


@settings(FUZZ, max_examples=300)
@given(st.sampled_from(TEMPLATES), constants)
def test_any_constant_in_any_position_checks_or_is_a_diagnostic(template: str, value: Any) -> None:
    check_total(example_spec(template.replace("C", literal_text(value))))


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("value", [*SPECIAL_FLOATS, *SPECIAL_INTS], ids=repr)
def test_every_special_constant_in_every_position(template: str, value: Any) -> None:
    check_total(example_spec(template.replace("C", literal_text(value))))


# ---------------------------------------------------------------- the registry's literal ranges
RANGED = ranged_params()


def _in_range(param: Param) -> st.SearchStrategy[Any]:
    assert param.range is not None
    low, high = param.range
    ints = st.integers(int(low), int(high))
    if DType.FLOAT in param.accepts:
        return st.one_of(ints, st.floats(float(low), float(high)))
    return ints


def _ranged_spec(op: Op, param: Param, value: Any) -> str:
    return with_literal(op, param, literal_text(value))


@pytest.mark.parametrize(("op", "param"), RANGED, ids=[f"{o.name}.{p.name}" for o, p in RANGED])
def test_the_ends_of_every_declared_range_check_and_give_edge_cases(op: Op, param: Param) -> None:
    assert param.range is not None
    for value in param.range:
        value = value if DType.FLOAT in param.accepts else int(value)
        assert check_total(_ranged_spec(op, param, value)) is not None, (op.name, value)


@settings(FUZZ, max_examples=200)
@given(st.data())
def test_every_value_inside_a_declared_range_checks_and_gives_edge_cases(
    data: st.DataObject,
) -> None:
    op, param = data.draw(st.sampled_from(RANGED))
    value = data.draw(_in_range(param))
    program = check_total(_ranged_spec(op, param, value))
    assert program is not None, f"{op.name}({param.name}={value!r}) is in range but refused"


def test_the_property_covers_every_declared_range() -> None:
    names = {f"{op.name}.{param.name}" for op, param in RANGED}
    assert {"round.ndigits", "quantile.q", "quantiles.n", "hash_bucket.n"} <= names
