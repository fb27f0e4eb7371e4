from __future__ import annotations

import numpy as np


def window_bounds(times, starts, ends, row_times, length, lag):
    import math

    n = len(starts)
    lo = np.empty(n, np.int64)
    hi = np.empty(n, np.int64)
    for i in range(n):
        s, e = int(starts[i]), int(ends[i])
        t = int(row_times[i])
        a = t - lag - length
        b = t - lag
        seg = [int(x) for x in times[s:e]]
        lo[i] = s + sum(1 for x in seg if x < a)
        hi[i] = s + sum(1 for x in seg if x < b)
    return lo, hi


def window_count(included, lo, hi):
    import math

    return np.array([int(included[a:b].sum()) for a, b in zip(lo, hi)], np.int64)


def window_sum_int(values, included, lo, hi):
    import math

    out = []
    for a, b in zip(lo, hi):
        total = sum(int(v) for v, k in zip(values[a:b], included[a:b]) if k)
        out.append((total + 2**63) % 2**64 - 2**63)
    return np.array(out, np.int64)


def _pick(values, included, lo, hi, choose):
    import math

    vals, missing = [], []
    fill = np.zeros(1, values.dtype)[0] if values.dtype != object else ""
    if values.dtype.kind == "f":
        fill = math.nan
    for a, b in zip(lo, hi):
        items = [v for v, k in zip(values[a:b], included[a:b]) if k]
        if items:
            vals.append(choose(items))
            missing.append(False)
        else:
            vals.append(fill)
            missing.append(True)
    return np.array(vals, dtype=values.dtype), np.array(missing, bool)


def _key(v):
    import math

    return (float(v), math.copysign(1.0, v)) if isinstance(v, float) else v


def window_min(values, included, lo, hi):
    import math

    return _pick(values, included, lo, hi, lambda xs: min(xs, key=_key))


def window_max(values, included, lo, hi):
    import math

    return _pick(values, included, lo, hi, lambda xs: max(reversed(xs), key=_key))


def window_first(values, included, lo, hi):
    import math

    return _pick(values, included, lo, hi, lambda xs: xs[0])


def window_last(values, included, lo, hi):
    import math

    return _pick(values, included, lo, hi, lambda xs: xs[-1])


def window_nth_last(values, included, lo, hi, n):
    import math

    return _pick(values, included, lo, hi, lambda xs: xs[-n] if len(xs) >= n else None)
