"""Running one fuzz case: fit, build both artifacts, compare them bit for bit at two optimization levels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from featuredsl.artifact.contract import OUTPUT
from featuredsl.parity.fuzz.cases import Feed, FuzzCase


class GeneratorError(AssertionError):
    """The generator produced a spec the checker rejects: a bug in this module (or the checker)."""


class Unfittable(Exception):
    """The training feed has no value for some analyzer: not a parity question; skip the case."""


class ParityViolation(AssertionError):
    """numpy module and ONNX graph disagree beyond the documented bound."""

    def __init__(self, message: str, features: Sequence[Any] = ()):
        super().__init__(message)
        self.features = tuple(features)  # the IR features (ir.Feature) with violations


# Primitives after which a few ULP of difference stop being a few ULP: steps and jumps.
STEP_PRIMITIVES = frozenset(
    {"floor", "ceil", "round_even", "eq", "ne", "lt", "le", "gt", "ge", "isnan"}
    | {"bucketize", "to_int", "to_string", "int_floordiv", "int_mod", "lookup", "murmur3"}
)


def amplifies_inexact_error(node: Any) -> bool:
    """True when an inexact primitive (primitives.ULP_BOUND) feeds another inexact primitive or a
    step (floor(log(x)), exp(exp(x)), log(x) > 0): the per-op bound does not cover the result."""
    from featuredsl.compiler.ir import walk
    from featuredsl.compiler.primitives import ULP_BOUND

    tainted: set[int] = set()
    for n in walk([node]):
        fed = any(id(a) in tainted for a in n.args)
        if fed and (n.op in ULP_BOUND or n.op in STEP_PRIMITIVES):
            return True
        if fed or n.op in ULP_BOUND:
            tainted.add(id(n))
    return False


def run_case(case: FuzzCase) -> None:
    """Check, fit, build both artifacts, run them on the test feed and compare; raise on any problem.

    The graph runs with onnxruntime's graph optimizations disabled and all enabled
    (sessions.CHECKED_OPTIMIZATIONS); both must agree with the numpy module, as a whole batch and
    for the first row alone."""
    from featuredsl.artifact.spec import Spec
    from featuredsl.compiler.boundaries import feature_bounds
    from featuredsl.language.diagnostics import DiagnosticError
    from featuredsl.parity.compare import compare
    from featuredsl.parity.sessions import CHECKED_OPTIMIZATIONS

    try:
        spec = Spec(case.spec, "<fuzz>")
    except DiagnosticError as error:
        raise GeneratorError(f"a generated spec does not check:\n{error}\n{case.spec}") from None
    try:
        fitted = spec.fit_feed(dict(case.train))
    except DiagnosticError as error:  # e.g. an analyzer saw no value: a clear error, not a crash
        raise Unfittable(str(error)) from None
    expected = fitted.transform_feed(dict(case.test))
    check_plain_module(fitted, case.test, expected)
    model = fitted.onnx_model()
    bounds = feature_bounds(fitted.program.features)
    names = fitted.feature_names
    first = {k: v[:1] for k, v in case.test.items()}
    for optimization in CHECKED_OPTIMIZATIONS:
        session = onnx_session(model, optimization)
        actual = run_session(session, case.test)
        comparison = compare(names, expected, actual, bounds)
        if not comparison.ok:
            text = _violation_text(comparison, names, expected, actual, case)
            raise ParityViolation(
                f"(onnxruntime optimization {optimization}) {text}",
                _violating(fitted.program.features, comparison),
            )
        if len(expected) < 2:
            continue
        # onnxruntime's kernels may change with the batch size: the first row alone must agree.
        single = run_session(session, first)
        comparison = compare(names, expected[:1], single, bounds)
        if not comparison.ok:
            single_case = FuzzCase(case.spec, case.columns, case.train, first)
            text = _violation_text(comparison, names, expected[:1], single, single_case)
            raise ParityViolation(
                f"(one-row batch, onnxruntime optimization {optimization}) {text}",
                _violating(fitted.program.features, comparison),
            )


class PlainModuleMismatch(AssertionError):
    """The module as built (tables, strings coded once) differs from the plain module."""


def check_plain_module(fitted: Any, feed: Feed, expected: np.ndarray) -> None:
    """The module as built must give the bits of the plain module: one statement per IR node of
    the fitted program, no tables (featuredsl.compiler.tables) and strings not coded
    (ModuleSpec.plain). NaN equals NaN (its sign and payload are not part of the semantics)."""
    from featuredsl.backends.numpy.codegen import ModuleSpec, render_module
    from featuredsl.backends.numpy.evaluate import execute_module

    program = fitted.program
    module = ModuleSpec(
        spec_name=program.name,
        fingerprint=fitted.fingerprint,
        inputs=program.inputs,
        outputs=tuple((f.name, f.node) for f in program.features),
        column_names=fitted.feature_names,
        widths=tuple(len(f.column_names or ()) for f in program.features),
        plain=True,
    )
    plain = execute_module(render_module(module), dict(feed))
    same = (plain.view(np.int64) == expected.view(np.int64)) | (
        np.isnan(plain) & np.isnan(expected)
    )
    if plain.shape != expected.shape or not same.all():
        bad = sorted({fitted.feature_names[c] for c in np.nonzero(~same)[1]})
        raise PlainModuleMismatch(
            f"the built module differs from the plain module in {bad}:\n{fitted.program.canonical_source}"
        )


def _violating(features: Sequence[Any], comparison: Any) -> list[Any]:
    bad = {c.name for c in comparison.columns if c.violations}
    return [f for f in features if bad & set(f.column_names or ())]


def onnx_session(model: Any, optimization: str = "all") -> Any:
    """A quiet, single-threaded onnxruntime session for a checked model."""
    from featuredsl.backends.onnx.graph import check_model
    from featuredsl.parity import sessions

    check_model(model)
    return sessions.onnx_session(model.SerializeToString(), optimization)


def run_session(session: Any, feed: Feed) -> np.ndarray:
    names = {i.name for i in session.get_inputs()}
    result: np.ndarray = session.run([OUTPUT], {k: v for k, v in feed.items() if k in names})[0]
    return result


def _violation_text(
    comparison: Any, names: Sequence[str], expected: np.ndarray, actual: np.ndarray, case: FuzzCase
) -> str:
    lines = ["numpy module and ONNX graph disagree:"]
    for index, column in enumerate(comparison.columns):
        for row in column.worst_rows[:3]:
            inputs = {
                k: v[row].item() if hasattr(v[row], "item") else v[row]
                for k, v in case.test.items()
            }
            lines.append(
                f"  {names[index]} row {row}: numpy {expected[row, index]!r} onnx {actual[row, index]!r} "
                f"(bound {column.bound} ULP) inputs {inputs}"
            )
    return "\n".join([*lines, case.describe()])


def case_fails(case: FuzzCase) -> bool:
    """True when a case shows a parity violation or a crash (for hypothesis.find)."""
    try:
        run_case(case)
    except Unfittable:
        return False
    except Exception:
        return True
    return False
