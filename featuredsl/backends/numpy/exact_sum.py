from __future__ import annotations

import numpy as np


def exact_sums(values, lo, hi):
    import math

    out = []
    for a, b in zip(lo, hi):
        xs = [float(v) for v in values[a:b]]
        pos, neg = math.inf in xs, -math.inf in xs
        if pos and neg:
            out.append(math.nan)
        elif pos:
            out.append(math.inf)
        elif neg:
            out.append(-math.inf)
        else:
            try:
                out.append(math.fsum(xs) + 0.0)
            except OverflowError:
                out.append(math.copysign(math.inf, sum(xs)))
    return np.array(out, np.float64)
