"""Monitoring: distribution skew, reference profiles, the serving log and its replay.

Modules, one job each: stats (two-sample statistics), summary/profile (what a side keeps),
skew (checks and severities), recommend, report/svg (HTML), codec/serving_log (the log),
replay, sources (reading files). docs/monitoring.md documents every number used here.

Names below load on first use, so a serving process importing the serving log does not pay
for scipy.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FeatureSkew": "featuredsl.monitor.findings",
    "SkewConfig": "featuredsl.monitor.findings",
    "SkewReport": "featuredsl.monitor.findings",
    "compare": "featuredsl.monitor.skew",
    "compare_predictions": "featuredsl.monitor.skew",
    "Profile": "featuredsl.monitor.profile",
    "profile_data": "featuredsl.monitor.profile",
    "profile_dataset": "featuredsl.monitor.profile",
    "LoggedSession": "featuredsl.monitor.serving_log",
    "read_log": "featuredsl.monitor.serving_log",
    "ReplayReport": "featuredsl.monitor.replay",
    "replay": "featuredsl.monitor.replay",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'featuredsl.monitor' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
