"""Measure how far onnxruntime's transcendental kernels are from numpy's, in ULPs.

`python -m featuredsl.parity.ulp` prints the table that docs/parity.md records. It is why
featuredsl computes log, exp, sin and cos itself (see lowering.py) and leaves only pow to the
runtimes; a test checks that pow stays within primitives.ULP_BOUND.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

from featuredsl.compiler.primitives import ULP_BOUND
from featuredsl.parity.compare import compare, ulp_distance

RANGES: dict[str, Callable[[np.random.Generator, int], tuple[np.ndarray, ...]]] = {
    "log": lambda rng, n: (np.exp(rng.uniform(-700, 700, n)),),
    "exp": lambda rng, n: (rng.uniform(-745, 709, n),),
    "sin": lambda rng, n: (rng.uniform(-1e4, 1e4, n),),
    "cos": lambda rng, n: (rng.uniform(-1e4, 1e4, n),),
    "pow": lambda rng, n: (np.exp(rng.uniform(-20, 20, n)), rng.uniform(-30, 30, n)),
}
ONNX_OPS = {"log": "Log", "exp": "Exp", "sin": "Sin", "cos": "Cos", "pow": "Pow"}
NUMPY_OPS: dict[str, Callable[..., np.ndarray]] = {
    "log": np.log,
    "exp": np.exp,
    "sin": np.sin,
    "cos": np.cos,
    "pow": np.power,
}


@dataclass(frozen=True)
class Measurement:
    op: str
    rows: int
    batch_max_ulp: float
    single_max_ulp: float
    batch_vs_single_max_ulp: float
    well_conditioned_max_ulp: float  # where |result| >= 1e-2: far from a zero of the function
    violations: int  # rows outside the documented bound (compare()'s rule)


def _session(op: str) -> ort.InferenceSession:
    arity = len(RANGES[op](np.random.default_rng(0), 1))
    names = [f"x{i}" for i in range(arity)]
    inputs = [helper.make_tensor_value_info(n, TensorProto.DOUBLE, ["N"]) for n in names]
    output = helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["N"])
    graph = helper.make_graph([helper.make_node(ONNX_OPS[op], names, ["y"])], op, inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options)


def measure(op: str, rows: int = 200_000, single_rows: int = 2_000, seed: int = 0) -> Measurement:
    rng = np.random.default_rng(seed)
    args = RANGES[op](rng, rows)
    session = _session(op)
    feed = {f"x{i}": a for i, a in enumerate(args)}
    expected = NUMPY_OPS[op](*args)
    batch = session.run(["y"], feed)[0]
    single = np.array(
        [
            session.run(["y"], {k: v[i : i + 1] for k, v in feed.items()})[0][0]
            for i in range(single_rows)
        ]
    )
    distance = ulp_distance(expected, batch)
    large = np.abs(expected) >= 1e-2
    verdict = compare([op], expected[:, None], batch[:, None], [ULP_BOUND.get(op, 0)])
    return Measurement(
        op,
        rows,
        float(distance.max()),
        float(ulp_distance(expected[:single_rows], single).max()),
        float(ulp_distance(batch[:single_rows], single).max()),
        float(distance[large].max(initial=0.0)),
        verdict.violations,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    arguments = parser.parse_args()
    print(
        "| op | bound | rows | max ULP (batch) | max ULP where abs(y) >= 0.01 | max ULP (single row) "
        "| batch vs single row | rows outside bound |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for op in ONNX_OPS:
        m = measure(op, arguments.rows)
        print(
            f"| {op} | {ULP_BOUND.get(op, 'not used')} | {m.rows:,} | {m.batch_max_ulp:g} | {m.well_conditioned_max_ulp:g} "
            f"| {m.single_max_ulp:g} | {m.batch_vs_single_max_ulp:g} | {m.violations} |"
        )


if __name__ == "__main__":
    main()
