"""Build a spec whose vocabulary has N distinct strings, from data generated at run time.

    python bench/big_vocab.py --distinct 1000000 --out /tmp/big_vocab

writes <out>/train.csv (N rows, one distinct string each, from a fixed seed) and
<out>/big_vocab.fdsl, then runs `featuredsl build` on them in this process and prints the
build time and the size of every file written. Run it under `/usr/bin/time -v` for the peak
memory. Nothing large is committed: the data is generated from the seed on every run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

SEED = 20261130
SPEC = """spec big_vocab

input {
  item: string
  amount: float
}

feature item_idx = lookup(item, vocab(item), oov_buckets=1)
feature amount_z = zscore(amount)
"""


def distinct_strings(count: int, seed: int = SEED) -> list[str]:
    """`count` distinct strings of 6 to 16 characters (letters, digits, a few non-ASCII)."""
    rng = np.random.default_rng(seed)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789éß日"))
    lengths = rng.integers(6, 17, count)
    letters = rng.integers(0, len(alphabet), int(lengths.sum()))
    ends = np.cumsum(lengths)
    text = "".join(alphabet[letters].tolist())
    # A running number keeps them distinct whatever the random letters are.
    return [
        f"{text[end - n : end]}{i:x}" for i, (end, n) in enumerate(zip(ends, lengths, strict=True))
    ]


def write_data(directory: Path, count: int, seed: int = SEED) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    amounts = rng.normal(50.0, 20.0, count)
    csv = directory / "train.csv"
    with csv.open("w", encoding="utf-8", newline="") as out:
        out.write("item,amount\n")
        for item, amount in zip(distinct_strings(count, seed), amounts.tolist(), strict=True):
            out.write(f"{item},{amount!r}\n")
    spec = directory / "big_vocab.fdsl"
    spec.write_text(SPEC, encoding="utf-8")
    return spec, csv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distinct", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    spec, csv = write_data(args.out, args.distinct)

    from featuredsl.parity.build import build

    started = time.perf_counter()
    report = build(spec, csv, args.out / "build")
    seconds = time.perf_counter() - started
    print(f"build of {args.distinct:,} distinct strings: {seconds:.1f} s")
    for name, path in sorted(report.files.items()):
        print(f"  {name}: {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
