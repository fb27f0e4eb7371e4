"""Write examples/churn/train.csv: 2,000 synthetic subscription accounts, deterministically.

Run from anywhere: `python examples/churn/make_data.py`. The columns are the inputs of
churn.fdsl plus the label `churned`. Nullable columns have empty cells for null; timestamps
are ISO-8601 instants with a 'Z' or '+00:00' offset.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

ROWS = 2_000
SEED = 20240501
OUT = Path(__file__).with_name("train.csv")
EPOCH = dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc)
COUNTRIES = ["DE", "FR", "US", "GB", "ES", "IT", "NL", "BR", "JP", "PL"]
COUNTRY_WEIGHTS = [0.22, 0.14, 0.18, 0.12, 0.08, 0.07, 0.06, 0.06, 0.04, 0.03]
PLANS = ["free", "basic", "pro", "família", "team"]  # one non-ASCII plan name on purpose
PLAN_WEIGHTS = [0.40, 0.25, 0.20, 0.05, 0.10]


def instant(moment: dt.datetime, index: int) -> str:
    """ISO-8601 with an explicit UTC offset, alternating the two spellings."""
    text = moment.isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if index % 2 else text


def cell(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def rows(rng: np.random.Generator) -> list[list[str]]:
    out = []
    for i in range(ROWS):
        age = float(np.clip(rng.normal(38, 12), 18, 90))
        income = float(rng.lognormal(10.6, 0.5))
        impressions = int(rng.poisson(rng.gamma(2.0, 60.0)))
        clicks = int(rng.binomial(impressions, rng.beta(2, 40)))
        country = str(rng.choice(COUNTRIES, p=COUNTRY_WEIGHTS))
        plan = str(rng.choice(PLANS, p=PLAN_WEIGHTS))
        event = EPOCH + dt.timedelta(seconds=int(rng.integers(0, 90 * 86_400)))
        signup = event - dt.timedelta(days=float(rng.exponential(400)) + 1)
        score = -1.5 - 0.02 * (clicks - 5) + (0.8 if plan == "free" else 0.0) - 0.001 * (age - 38)
        churned = bool(rng.random() < 1 / (1 + np.exp(-score)))
        out.append(
            [
                cell(None if rng.random() < 0.08 else age, 1),
                cell(None if rng.random() < 0.15 else income, 2),
                str(clicks),
                str(impressions),
                country,
                "" if rng.random() < 0.10 else plan,
                instant(event, i),
                instant(signup.replace(microsecond=0), i + 1),
                "true" if churned else "false",
            ]
        )
    return out


def main() -> None:
    rng = np.random.default_rng(SEED)
    header = ["age", "income", "clicks_7d", "impressions_7d", "country", "plan"]
    header += ["event_ts", "signup_ts", "churned"]
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows(rng))
    print(f"wrote {OUT} ({ROWS} rows)")


if __name__ == "__main__":
    main()
