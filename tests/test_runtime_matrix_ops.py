"""Every primitive's edge cases on every runtime of the matrix, bit for bit (docs/parity.md).

The probes (featuredsl.parity.primitive_cases) put each primitive of the ONNX backend's dispatch
table, on every combination of its operands' edge values, side by side in one graph whose
outputs keep their own dtype. `make test` runs a bounded slice: the declared minimum and the
newest Python onnxruntime and onnxruntime-node, with graph optimizations disabled and all
enabled, plus this interpreter's onnxruntime at every level and in small batches (short inputs
take other kernel paths). `make conformance` (marker `conformance`) runs every runtime of
featuredsl.parity.matrix.MATRIX at every optimization level with one and two threads (also
marked slow, so `make test` leaves it out).
A failure names the primitive, how many rows differ, the first such row and both values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from featuredsl.parity import matrix, primitive_cases
from featuredsl.parity.sessions import OPTIMIZATIONS, onnx_session, run_outputs

SLICE = (
    f"python-ort=={matrix.PYTHON_MIN}",
    f"python-ort=={matrix.PYTHON_NEWEST}",
    f"node-ort=={matrix.NODE_ORT_VERSION}",
)


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> tuple[primitive_cases.Combined, Path]:
    combination = primitive_cases.combined()
    path = tmp_path_factory.mktemp("probes") / "probes.onnx"
    path.write_bytes(combination.model.SerializeToString())
    return combination, path


def _verdict(found: list[primitive_cases.Difference], where: str) -> str:
    return f"{where}: {len(found)} primitives differ from the numpy module\n" + "\n".join(
        d.format() for d in found
    )


def _check_runtime(
    runtime_id: str,
    probes: tuple[primitive_cases.Combined, Path],
    optimization: str,
    threads: int,
) -> None:
    combination, path = probes
    runtime = matrix.ensure_runtime(runtime_id)
    outputs = runtime.run(path, combination.feed, optimization=optimization, threads=threads)
    found = primitive_cases.differences(combination, outputs)
    assert not found, _verdict(
        found, f"{runtime_id}, optimization {optimization}, {threads} threads"
    )


def test_probes_cover_the_dispatch_table() -> None:
    from featuredsl.backends.onnx.graph import EMITTERS

    structural = {"const", "list_const", "list_size"}  # operands of other probes, not values
    probed = {p.op for p in primitive_cases.PROBES}
    assert set(EMITTERS) - structural <= probed
    assert len({p.name for p in primitive_cases.PROBES}) == len(primitive_cases.PROBES)


@pytest.mark.parametrize("optimization", ("disabled", "all"))
@pytest.mark.parametrize("runtime_id", SLICE)
def test_primitives_agree_on_the_matrix_slice(
    runtime_id: str, optimization: str, probes: tuple[primitive_cases.Combined, Path]
) -> None:
    _check_runtime(runtime_id, probes, optimization, threads=1)


@pytest.mark.slow
@pytest.mark.conformance
@pytest.mark.parametrize("threads", (1, 2))
@pytest.mark.parametrize("optimization", matrix.OPTIMIZATIONS)
@pytest.mark.parametrize("runtime_id", matrix.MATRIX)
def test_primitives_agree_on_every_runtime(
    runtime_id: str, optimization: str, threads: int, probes: tuple[primitive_cases.Combined, Path]
) -> None:
    _check_runtime(runtime_id, probes, optimization, threads)


@pytest.mark.parametrize("batch", (1, 3, 16, None))
@pytest.mark.parametrize("optimization", OPTIMIZATIONS)
def test_primitives_agree_here_in_any_batch_size(
    optimization: str, batch: int | None, probes: tuple[primitive_cases.Combined, Path]
) -> None:
    """This interpreter's onnxruntime: whole batch, and a random 300 rows in batches of 1, 3, 16
    (onnxruntime 1.22-1.31 compute int64 Min/Max differently for short inputs)."""
    combination, _ = probes
    session = onnx_session(combination.model.SerializeToString(), optimization)
    names = [o.name for o in session.get_outputs()]
    if batch is None:
        rows = np.arange(combination.rows)
        outputs = dict(zip(names, run_outputs(session, combination.feed), strict=True))
    else:
        rows = np.random.default_rng(batch).permutation(combination.rows)[:300]
        parts = [
            run_outputs(session, {k: v[rows[i : i + batch]] for k, v in combination.feed.items()})
            for i in range(0, len(rows), batch)
        ]
        outputs = {
            name: np.concatenate([part[index] for part in parts])
            for index, name in enumerate(names)
        }
    found = primitive_cases.differences(combination, outputs, rows)
    assert not found, _verdict(found, f"optimization {optimization}, batches of {batch or 'all'}")


def test_a_wrong_runtime_value_is_reported_with_its_inputs(
    probes: tuple[primitive_cases.Combined, Path],
) -> None:
    """The check can fail: flip the sign of one zero and change one int64 in the numpy values."""
    combination, _ = probes
    outputs = {f"value{i}": values.copy() for i, values in enumerate(combination.expected)}
    names = [case.probe.name for case in combination.cases]
    where = names.index("where_float")
    zero = int(np.flatnonzero(combination.expected[where] == 0)[0])
    outputs[f"value{where}"][zero] = -outputs[f"value{where}"][zero]
    floordiv = names.index("int_floordiv_int_by_7")
    outputs[f"value{floordiv}"][5] += 1
    found = {d.probe: d for d in primitive_cases.differences(combination, outputs)}
    assert set(found) == {"where_float", "int_floordiv_int_by_7"}
    assert found["where_float"].rows == 1
    assert found["int_floordiv_int_by_7"].inputs == {
        "a0": int(combination.feed["int_floordiv_int_by_7__a0"][5])
    }
