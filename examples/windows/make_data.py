"""Generate the windows example's data from a seed: cards' purchase histories and card
authorisations to score.

    python examples/windows/make_data.py            # writes examples/windows/{train,purchases}.csv
    python examples/windows/make_data.py --out DIR  # writes DIR/requests.json only

The committed CSVs are left alone when --out is given, so that tests and run.py, which only
need the requests, never rewrite files other processes may be reading.

- purchases.csv: purchases of CARDS cards over the 45 days before T0 (card, purchase_ts as an
  ISO-8601 instant, amount, merchant_type, online): each card buys at its own rate, with its own
  typical amount, and some purchases come in bursts a few minutes apart.
- train.csv: TRAIN_ROWS authorisations in the last 30 days before T0 (auth_ts, card, amount,
  merchant_type), each at a random time; a purchase may happen at exactly an authorisation
  time (the event being scored is never in its own window: docs/windows.md).
- requests.json: REQUEST_ROWS authorisations after T0, each with its card's purchases in the
  30 days 5 minutes before it, in event-time order, as a serving path sends them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

SEED = 19
CARDS = 40
MINUTE = 60_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
T0 = 1_790_000_000_000_000  # 2026-09-21T14:13:20Z
TRAIN_ROWS = 2_000
REQUEST_ROWS = 200
TYPES = ("grocery", "fuel", "travel", "online", "café")
HERE = Path(__file__).parent


def purchases(rng: np.random.Generator) -> dict[str, list[object]]:
    """Every card's purchases from T0 - 45 days to T0 + 2 days, in time order per card."""
    out: dict[str, list[object]] = {k: [] for k in ("card", "purchase_ts", "amount")}
    out.update({"merchant_type": [], "online": []})
    for card in range(CARDS):
        rate = float(rng.uniform(0.5, 3.0))  # purchases per day
        typical = float(rng.lognormal(3.0, 0.8))
        t = T0 - 45 * DAY + int(rng.integers(0, DAY))
        while t < T0 + 2 * DAY:
            burst = 1 + int(rng.random() < 0.1) * int(rng.integers(1, 4))
            for _ in range(burst):
                out["card"].append(f"c{card:03d}")
                out["purchase_ts"].append(t)
                out["amount"].append(round(float(rng.lognormal(np.log(typical), 0.6)), 2))
                out["merchant_type"].append(TYPES[int(rng.integers(0, len(TYPES)))])
                out["online"].append(bool(rng.random() < 0.3))
                t += int(rng.integers(0, 5 * MINUTE))
            t += int(rng.exponential(DAY / rate))
    return out


def authorisations(rng: np.random.Generator, rows: int, start: int, end: int) -> dict[str, list]:
    cards = rng.integers(0, CARDS, rows)
    return {
        "auth_ts": sorted(int(t) for t in rng.integers(start, end, rows)),
        "card": [f"c{c:03d}" for c in cards],
        "amount": [round(float(a), 2) for a in rng.lognormal(3.2, 1.0, rows)],
        "merchant_type": [TYPES[int(i)] for i in rng.integers(0, len(TYPES), rows)],
    }


def iso(micros: list[int]) -> list[str]:
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return [(epoch + dt.timedelta(microseconds=m)).isoformat() for m in micros]


def write_csv(columns: dict[str, list], time: str, path: Path) -> None:
    table = dict(columns)
    table[time] = iso(columns[time])
    pacsv.write_csv(pa.table(table), path)


def requests(events: dict[str, list], rows: dict[str, list], lag: int, reach: int) -> list[dict]:
    """Each authorisation with its card's purchases in [auth_ts - lag - reach, auth_ts - lag)."""
    by_card: dict[str, list[int]] = {}
    for index, card in enumerate(events["card"]):
        by_card.setdefault(str(card), []).append(index)
    out = []
    for i, when in enumerate(rows["auth_ts"]):
        card = rows["card"][i]
        picked = [
            j
            for j in by_card.get(card, [])
            if when - lag - reach <= events["purchase_ts"][j] < when - lag
        ]
        picked.sort(key=lambda j: events["purchase_ts"][j])
        out.append(
            {
                **{k: rows[k][i] for k in rows},
                "purchases": [
                    {k: events[k][j] for k in ("purchase_ts", "amount", "merchant_type", "online")}
                    for j in picked
                ],
            }
        )
    return out


def generate(out: Path | None = None) -> None:
    """The committed CSVs (no `out`), or the later requests as `out`/requests.json."""
    rng = np.random.default_rng(SEED)
    events = purchases(rng)
    train = authorisations(rng, TRAIN_ROWS, T0 - 30 * DAY, T0)
    # A few authorisations at exactly a purchase time: the scored purchase is not in its window.
    for i in range(0, TRAIN_ROWS, 97):
        j = int(rng.integers(0, len(events["card"])))
        train["card"][i], train["auth_ts"][i] = events["card"][j], events["purchase_ts"][j]
    order = np.argsort(train["auth_ts"], kind="stable")
    train = {k: [v[i] for i in order] for k, v in train.items()}
    if out is None:
        write_csv(events, "purchase_ts", HERE / "purchases.csv")
        write_csv(train, "auth_ts", HERE / "train.csv")
    else:
        out.mkdir(parents=True, exist_ok=True)
        later = authorisations(rng, REQUEST_ROWS, T0, T0 + 2 * DAY)
        served = requests(events, later, lag=5 * MINUTE, reach=30 * DAY)
        (out / "requests.json").write_text(json.dumps(served), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None)
    generate(parser.parse_args().out)


if __name__ == "__main__":
    main()
