"""`featuredsl check` and `featuredsl fmt`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from featuredsl.cli.console import make_console
from featuredsl.compiler.frontend import check_source, read_spec
from featuredsl.errors import FeatureDSLError
from featuredsl.language.formatter import format_spec
from featuredsl.language.parser import parse


def _width_text(names: tuple[str, ...] | None) -> str:
    return "fitted" if names is None else str(len(names))


@click.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
def check(specs: tuple[str, ...]) -> int:
    """Check SPECS; print each spec's features, or every diagnostic."""
    console = make_console()
    failed = False
    for path in specs:
        try:
            program = check_source(read_spec(path), path)
        except FeatureDSLError as error:
            click.echo(str(error), err=True)
            failed = True
            continue
        table = Table(title=f"{path}: spec {program.name}", title_justify="left")
        for header in ("feature", "dtype", "width", "nullable inputs used"):
            table.add_column(header)
        for feature in program.features:
            table.add_row(
                feature.name,
                str(feature.dtype),
                _width_text(feature.column_names),
                ", ".join(feature.nullable_inputs_used) or "-",
            )
        console.print(table)
    return 1 if failed else 0


@click.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--check", "check_only", is_flag=True, help="Exit 1 if a file is not formatted; write nothing."
)
def fmt(specs: tuple[str, ...], check_only: bool) -> int:
    """Rewrite SPECS in canonical form (comments kept)."""
    status = 0
    for path in specs:
        try:
            source = read_spec(path)
            formatted = format_spec(parse(source, path), source)
        except FeatureDSLError as error:
            click.echo(str(error), err=True)
            status = 1
            continue
        if formatted == source:
            continue
        if check_only:
            click.echo(f"{path}: would reformat")
            status = 1
        else:
            Path(path).write_text(formatted, encoding="utf-8")
            click.echo(f"{path}: formatted")
    return status
