"""The `featuredsl` command. Sub-commands live next to the code they drive and load lazily."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

from featuredsl import __version__
from featuredsl.errors import FeatureDSLError

# name -> (module, attribute, one-line help). Loading lazily keeps `featuredsl check` fast.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "check": ("featuredsl.cli.language", "check", "Check specs and list their features."),
    "fmt": ("featuredsl.cli.language", "fmt", "Format specs canonically."),
    "build": ("featuredsl.cli.build", "build", "Fit a spec on data and write both artifacts."),
    "transform": ("featuredsl.cli.transform", "transform", "Features of a dataset to Parquet."),
    "parity": ("featuredsl.cli.parity", "parity", "Compare numpy and ONNX artifacts."),
    "golden": ("featuredsl.cli.parity", "golden", "Check or update golden files."),
    "verify": ("featuredsl.cli.verify", "verify", "Run a build's conformance kit on a runtime."),
    "profile": ("featuredsl.cli.monitor", "profile", "Store a reference profile."),
    "skew": ("featuredsl.cli.monitor", "skew", "Distribution skew report."),
    "replay": ("featuredsl.cli.monitor", "replay", "Replay a serving log."),
    "consistency": (
        "featuredsl.cli.consistency",
        "consistency",
        "Served values against the offline table.",
    ),
    "bundle": ("featuredsl.cli.ship", "bundle", "Merge features and a model graph."),
    "shadow": ("featuredsl.cli.ship", "shadow", "Compare two builds or bundles."),
    "serve": ("featuredsl.cli.serve", "serve", "Serve a build or bundle over HTTP."),
    "show": ("featuredsl.cli.show", "show", "Show a build's fitted constants and contract."),
    "init": ("featuredsl.cli.init", "init", "Start a spec from a data file."),
    "pit-join": ("featuredsl.cli.pit", "pit_join", "Point-in-time join."),
    "audit": ("featuredsl.cli.pit", "audit", "Leakage audit of a training table."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        available = []
        for name, (module, _, _) in COMMANDS.items():
            if importlib.util.find_spec(module) is not None:
                available.append(name)
        return sorted(available)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attribute, _ = entry
        if importlib.util.find_spec(module_name) is None:
            return None
        module = importlib.import_module(module_name)
        command: click.Command = getattr(module, attribute)
        return command


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="featuredsl")
def cli() -> None:
    """featuredsl: one feature definition, two runtimes, one meaning."""


def main(argv: list[str] | None = None) -> Any:
    try:
        result = cli.main(args=argv, prog_name="featuredsl", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except FeatureDSLError as err:
        click.echo(str(err), err=True)
        sys.exit(1)
    # Commands return their exit status (0 or 1) rather than calling sys.exit themselves.
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
