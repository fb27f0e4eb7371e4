"""Golden files of every example: generated code snapshots and exact outputs.

Regenerate with `make golden` (pytest --update-golden) and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from featuredsl.parity.golden import check_golden, write_golden

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(
    p for p in (ROOT / "examples").glob("*/*.fdsl") if (p.parent / "train.csv").exists()
)


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_golden(spec: Path, request: pytest.FixtureRequest) -> None:
    data = spec.parent / "train.csv"
    directory = ROOT / "golden" / spec.parent.name
    if request.config.getoption("--update-golden"):
        write_golden(spec, data, directory)
    problems = check_golden(spec, data, directory)
    assert not problems, "\n".join(problems)


def test_every_example_has_golden_files() -> None:
    names = {p.parent.name for p in EXAMPLES}
    assert len(names) >= 3
    assert names <= {p.name for p in (ROOT / "golden").iterdir() if p.is_dir()}
