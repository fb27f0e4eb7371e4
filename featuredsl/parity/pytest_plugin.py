"""pytest plugin (entry point `featuredsl`): numpy module vs ONNX graph parity in a user's CI.

    pytest --featuredsl-parity build/churn --featuredsl-parity build/fraud

adds one test item per build directory; it runs the directory's numpy module and ONNX graph on
the build's edge cases (`featuredsl.parity.runner.run_parity`) and fails with the parity report.
In a test of your own, the `featuredsl_parity` fixture does the same for one directory:

    def test_churn_parity(featuredsl_parity):
        featuredsl_parity("build/churn")                    # fails with the report
        featuredsl_parity("build/churn", data="sample.csv")  # also on rows of your data

The plugin loads in every pytest run of an environment where featuredsl is installed, so this
module imports only pytest and the standard library; featuredsl itself is imported when a
parity check runs. Without the option and the fixture it does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

OPTION = "--featuredsl-parity"
DEST = "featuredsl_parity"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("featuredsl", "featuredsl feature parity")
    group.addoption(
        OPTION,
        action="append",
        default=[],
        dest=DEST,
        metavar="DIR",
        help="check that the numpy module and the ONNX graph of the featuredsl build DIR agree "
        "on its edge cases (one test item per DIR; repeatable)",
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    directories = config.getoption(DEST, default=[])
    return f"featuredsl parity: {', '.join(directories)}" if directories else None


class ParityFailure(Exception):
    """A parity check failed; the message is the whole report."""


def check_build(directory: str | Path, data: Any = None) -> Any:
    """Run the parity check of one build directory; raise ParityFailure with the report if it fails."""
    from featuredsl.errors import FeatureDSLError
    from featuredsl.parity.runner import run_parity

    try:
        report = run_parity(directory) if data is None else run_parity(directory, data=data)
    except FeatureDSLError as error:  # a missing or corrupt build: its message, not a traceback
        raise ParityFailure(f"parity of {directory}: {error}") from None
    if not report.ok:
        raise ParityFailure(report.format())
    return report


class ParityItem(pytest.Item):
    """One --featuredsl-parity directory, run as a test."""

    def __init__(self, *, directory: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.directory = directory

    def runtest(self) -> None:
        check_build(self.directory)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ParityFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return Path(self.directory), None, f"featuredsl parity of {self.directory}"


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so those apply to these items too
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    for directory in config.getoption(DEST, default=[]):
        name = f"featuredsl-parity[{directory}]"
        items.append(ParityItem.from_parent(session, name=name, nodeid=name, directory=directory))


@pytest.fixture
def featuredsl_parity() -> Callable[..., Any]:
    """Call with a build directory (and optionally data=...): returns the ParityReport, or fails
    the test with the report when numpy module and ONNX graph disagree."""

    def check(directory: str | Path, data: Any = None) -> Any:
        try:
            return check_build(directory, data)
        except ParityFailure as failure:
            message = str(failure)
        pytest.fail(message, pytrace=False)  # outside the except: no "during handling" chain

    return check
