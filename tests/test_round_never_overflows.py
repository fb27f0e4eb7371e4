"""round(x, n) for n > 0 never turns a finite x into inf (issue 18, item 3).

round(2.0, 308) used to give inf; a digit count that large is now a range error (|n| <= 22).
Inside the range, x * 10**n still overflowed for |x| above about 1.8e286: round(1e300, 2) was
inf in both runtimes. Such an x is a whole number already (every double of magnitude 2**52 or
more is) and comes back as is, as Python's round gives it (CPython's exact rounding, lowered in
featuredsl.compiler.exact).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from featuredsl.artifact.load import load
from featuredsl.parity.build import build

VALUES = np.array(
    [
        *(1e300, -1e300, 1.7976931348623157e308, -1.7976931348623157e308, 1e287, 1.8e286),
        *(2.0**52, -(2.0**52), 2.0**52 + 1, 2.0**52 - 0.5, 4503599627370495.5, 1e16),
        *(0.125, -2.675, 1.5, 0.0, -0.0, 5e-324, math.inf, -math.inf),
    ]
)


@pytest.mark.parametrize("digits", [1, 2, 22])
def test_round_with_digits_keeps_large_values_and_both_runtimes_agree(
    tmp_path: Path, digits: int
) -> None:
    spec = tmp_path / "r.fdsl"
    spec.write_text(f"spec r\ninput {{\n  x: float\n}}\nfeature f = round(x, {digits})\n")
    report = build(spec, {"x": VALUES}, tmp_path / "out")
    assert report.parity.ok  # numpy module == ONNX graph, edge cases included
    got = load(tmp_path / "out").transform({"x": VALUES})[:, 0]
    for x, y in zip(VALUES, got, strict=True):
        if abs(x) >= 2.0**52 or math.isinf(x):
            assert y == x and math.copysign(1, y) == math.copysign(1, x), (x, y)
        else:
            assert math.isfinite(y), (x, y)
