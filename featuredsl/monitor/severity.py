"""Severity levels and the bands that map a statistic to one (origins in docs/monitoring.md)."""

from __future__ import annotations

import math
from typing import Literal

Severity = Literal["none", "minor", "moderate", "severe"]
SEVERITIES: tuple[Severity, ...] = ("none", "minor", "moderate", "severe")
RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}

Bands = tuple[float, float, float]

# PSI rule of thumb from credit scoring (Siddiqi, "Credit Risk Scorecards", 2006): < 0.10 no
# significant change, 0.10-0.25 some change, >= 0.25 a major shift. The 0.15 split of the
# middle band into minor/moderate is this project's convention.
PSI_BANDS: Bands = (0.10, 0.15, 0.25)


def _ks_equivalent(psi: float) -> float:
    # For a normal location shift of d standard deviations PSI ~ d**2 and KS D = 2 Phi(d/2) - 1:
    # the KS bands below give such a shift the same severity as the PSI bands do.
    # 2 Phi(z) - 1 = erf(z / sqrt 2)
    return math.erf(math.sqrt(psi) / 2.0 / math.sqrt(2.0))


KS_BANDS: Bands = (_ks_equivalent(0.10), _ks_equivalent(0.15), _ks_equivalent(0.25))

# Cohen's h for two proportions, with his small/medium/large conventions (Cohen, "Statistical
# Power Analysis for the Behavioral Sciences", 1988): null rate, unseen and out-of-range shares.
H_BANDS: Bands = (0.2, 0.5, 0.8)

# Cohen's d conventions (same source) for the standardised mean shift of model scores.
D_BANDS: Bands = (0.2, 0.5, 0.8)

# A check only counts when its test rejects "no change" at this level. At large n every real
# difference passes, so the effect-size band decides; at small n this stops noise from flagging.
ALPHA = 0.01


def band(value: float | None, bands: Bands) -> Severity:
    if value is None or math.isnan(value):
        return "none"
    if value >= bands[2]:
        return "severe"
    if value >= bands[1]:
        return "moderate"
    if value >= bands[0]:
        return "minor"
    return "none"


def gated(
    value: float | None, bands: Bands, pvalue: float | None, alpha: float = ALPHA
) -> Severity:
    """band(value) when the accompanying test is significant, else "none"."""
    if pvalue is None or pvalue >= alpha:
        return "none"
    return band(value, bands)


def worst(severities: list[Severity]) -> Severity:
    return max(severities, key=RANK.__getitem__, default="none")
