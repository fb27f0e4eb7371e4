"""How long the differential fuzzer runs: hypothesis settings and the example budget."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES_ENV = "FEATUREDSL_FUZZ_EXAMPLES"
DEFAULT_EXAMPLES = 60


def fuzz_examples(default: int = DEFAULT_EXAMPLES) -> int:
    """The number of random specs to run, from $FEATUREDSL_FUZZ_EXAMPLES."""
    return max(1, int(os.environ.get(EXAMPLES_ENV, default)))


settings.register_profile(
    "featuredsl-fuzz",
    max_examples=fuzz_examples(),
    deadline=None,
    derandomize=True,  # the same cases on every CI run; regressions are kept as files instead
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
FUZZ_SETTINGS = settings.get_profile("featuredsl-fuzz")


def is_final_example() -> bool:
    """True while hypothesis replays the shrunk failing example (so only that one is saved)."""
    try:
        from hypothesis.control import current_build_context

        return bool(current_build_context().is_final)
    except Exception:  # outside a hypothesis test, or an API change: save every failure
        return True
