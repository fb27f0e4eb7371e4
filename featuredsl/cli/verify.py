"""`featuredsl verify DIR --runtime R [--optimization LEVEL] [--threads N]`."""

from __future__ import annotations

import json

import click

from featuredsl.parity.matrix import OPTIMIZATIONS, ensure_runtime


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--runtime",
    "runtimes",
    multiple=True,
    default=("python",),
    show_default=True,
    help="python (this interpreter's onnxruntime), node, web, or an id such as "
    "python-ort==1.20.1, node-ort==1.30.0, web-ort==1.30.0 (installed and cached on first "
    "use). Repeatable.",
)
@click.option(
    "--optimization",
    "levels",
    multiple=True,
    default=("all",),
    show_default=True,
    type=click.Choice([*OPTIMIZATIONS, "every"]),
    help="onnxruntime graph optimization level; `every` runs all four. Repeatable.",
)
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False), help="Write the verdicts as JSON."
)
def verify(
    directory: str,
    runtimes: tuple[str, ...],
    levels: tuple[str, ...],
    threads: int,
    json_out: str | None,
) -> int:
    """Run the conformance kit of DIRECTORY on each runtime; exit 1 on any differing bit.

    Every verdict is recorded in DIRECTORY/verification.json."""
    if "every" in levels:
        levels = OPTIMIZATIONS
    verdicts = []
    for rid in runtimes:
        runtime = ensure_runtime(rid, progress=lambda step: click.echo(step, err=True))
        for level in levels:
            verdict = runtime.verify(directory, optimization=level, threads=threads)
            click.echo(verdict.format())
            verdicts.append(verdict)
    if json_out:
        with open(json_out, "w", encoding="utf-8") as handle:
            json.dump([v.to_dict() for v in verdicts], handle, indent=2)
            handle.write("\n")
    return 0 if all(v.ok for v in verdicts) else 1
