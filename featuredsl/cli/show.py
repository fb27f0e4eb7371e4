"""`featuredsl show DIR`: a build's fitted constants, input contract and data quality."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from featuredsl.cli.console import make_console


@click.command()
@click.argument("build_dir", type=click.Path(file_okay=False))
def show(build_dir: str) -> int:
    """Print BUILD_DIR's input contract, fitted statistics, boundaries, vocabularies (with
    training counts), features and data-quality summary, after checking its integrity."""
    from featuredsl.artifact.load import load
    from featuredsl.artifact.summary import build_document

    document = build_document(load(build_dir).manifest, where=build_dir)
    console = make_console()
    console.print(f"[bold]{escape(document.title)}[/bold]")
    facts = Table(show_header=False, box=None, pad_edge=False)
    for label, value in document.facts:
        facts.add_row(escape(label), escape(value))
    console.print(facts)
    for note in document.notes:
        console.print(f"[yellow]finding:[/yellow] {escape(note)}")
    for table in document.tables:
        shown = Table(title=escape(table.title), title_justify="left", caption=escape(table.note))
        for name, numeric in zip(table.header, table.numeric, strict=True):
            shown.add_column(escape(name), justify="right" if numeric else "left")
        for row in table.rows:
            shown.add_row(*(escape(cell) for cell in row))
        console.print()
        console.print(shown)
    return 0
