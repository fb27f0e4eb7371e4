"""Write examples/fraud/train.csv: 2,000 synthetic card transactions, deterministically.

Run from anywhere: `python examples/fraud/make_data.py`. The columns are the inputs of
fraud.fdsl plus the label `is_fraud` (about 3% of rows). Nullable columns have empty cells for
null; timestamps are ISO-8601 instants with a 'Z' or '+00:00' offset.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

ROWS = 2_000
SEED = 20240502
OUT = Path(__file__).with_name("train.csv")
START = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
COUNTRIES = ["DE", "FR", "US", "GB", "ES", "IT", "NL", "PL", "NG", "RU"]
COUNTRY_WEIGHTS = [0.30, 0.15, 0.15, 0.10, 0.08, 0.07, 0.06, 0.05, 0.02, 0.02]
# (merchant, category code); a few names are non-ASCII on purpose.
MERCHANTS = [
    ("Rewe", "5411"),
    ("Aldi Süd", "5411"),
    ("Café Müller", "5814"),
    ("Shell", "5541"),
    ("Amazon", "5942"),
    ("Zalando", "5651"),
    ("Łódź Market", "5411"),
    ("東京ストア", "5732"),
    ("Deutsche Bahn", "4112"),
    ("Lufthansa", "3008"),
    ("Steam", "5816"),
    ("CryptoXchange", "6051"),
]
MERCHANT_WEIGHTS = np.array([30, 25, 15, 12, 20, 8, 3, 2, 6, 3, 4, 1], dtype=float)
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "web.de", "gmx.net", "mailinator.com"]
DOMAIN_WEIGHTS = [0.35, 0.10, 0.15, 0.20, 0.17, 0.03]
NAMES = ["anna", "ben", "chloe", "david", "emre", "fatima", "jörg", "li.wei", "maria", "noah"]


def instant(moment: dt.datetime, index: int) -> str:
    """ISO-8601 with an explicit UTC offset, alternating the two spellings."""
    text = moment.isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if index % 2 else text


def email(rng: np.random.Generator, fraud: bool) -> str:
    name = str(rng.choice(NAMES)).replace("ö", "oe")
    if fraud or rng.random() < 0.1:
        name += str(int(rng.integers(1000, 99999)))
    domain = (
        "mailinator.com"
        if fraud and rng.random() < 0.3
        else str(rng.choice(DOMAINS, p=DOMAIN_WEIGHTS))
    )
    text = f"{name}@{domain}"
    return f" {text.upper()}" if rng.random() < 0.05 else text  # some untidy input


def transaction(rng: np.random.Generator, i: int) -> list[str]:
    fraud = bool(rng.random() < 0.03)
    merchant, category = MERCHANTS[
        rng.choice(len(MERCHANTS), p=MERCHANT_WEIGHTS / MERCHANT_WEIGHTS.sum())
    ]
    amount = float(rng.lognormal(3.4, 1.1)) * (4.0 if fraud else 1.0)
    card_country = str(rng.choice(COUNTRIES, p=COUNTRY_WEIGHTS))
    ip_country = (
        card_country if rng.random() < (0.5 if fraud else 0.92) else str(rng.choice(COUNTRIES))
    )
    card_present = not fraud and rng.random() < 0.45
    ts = START + dt.timedelta(seconds=int(rng.integers(0, 60 * 86_400)))
    if fraud:
        ts = ts.replace(hour=int(rng.integers(0, 6)))
    gap = float(rng.exponential(30 if fraud else 3 * 86_400))
    opened = ts - dt.timedelta(days=float(rng.exponential(25 if fraud else 900)) + 0.5)
    return [
        f"{round(amount, 0) if rng.random() < 0.1 else round(amount, 2):.2f}",
        merchant,
        category,
        card_country,
        "" if rng.random() < 0.07 else ip_country,
        email(rng, fraud),
        "" if card_present and rng.random() < 0.8 else f"dev-{int(rng.integers(0, 5000)):05d}",
        "true" if card_present else "false",
        str(int(rng.poisson(6 if fraud else 1.2))),
        instant(ts, i),
        "" if rng.random() < 0.12 else instant(ts - dt.timedelta(seconds=int(gap) + 1), i + 1),
        instant(opened.replace(microsecond=0), i),
        "true" if fraud else "false",
    ]


def main() -> None:
    rng = np.random.default_rng(SEED)
    header = ["amount", "merchant", "merchant_category", "card_country", "ip_country", "email"]
    header += ["device_id", "card_present", "attempts_24h", "txn_ts", "prev_txn_ts"]
    header += ["account_open_ts", "is_fraud"]
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(transaction(rng, i) for i in range(ROWS))
    print(f"wrote {OUT} ({ROWS} rows)")


if __name__ == "__main__":
    main()
