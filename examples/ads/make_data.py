"""Write examples/ads/train.csv: 2,000 synthetic (search request, ad) impressions, deterministically.

Run from anywhere: `python examples/ads/make_data.py`. The columns are the inputs of ads.fdsl
plus the label `clicked`. Nullable columns have empty cells for null; timestamps are ISO-8601
instants with a 'Z' or '+00:00' offset.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

ROWS = 2_000
SEED = 20240503
OUT = Path(__file__).with_name("train.csv")
START = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
# Queries as people type them: mixed case, stray spaces, a few non-ASCII ones.
QUERIES = [
    "running shoes",
    "Running Shoes ",
    "cheap flights berlin",
    "buy iphone 15",
    "iphone 15 price",
    "günstige schuhe",
    "café près de moi",
    "手机壳",
    "winter jacket sale",
    "hotel paris",
    " hotel  paris",
    "laptop deal",
    "garden chairs",
    "Kaffeemaschine",
    "yoga mat",
]
QUERY_WEIGHTS = np.array([12, 4, 8, 6, 5, 4, 2, 1, 5, 9, 1, 4, 3, 3, 4], dtype=float)
CATEGORIES = ["apparel", "travel", "electronics", "home", "sports"]
ADVERTISERS = [f"adv_{i:03d}" for i in range(60)]
DEVICES = ["desktop", "mobile", "tablet"]
DEVICE_WEIGHTS = [0.38, 0.55, 0.07]
COUNTRIES = ["DE", "FR", "US", "GB", "ES", "IT", "JP"]


def instant(moment: dt.datetime, index: int) -> str:
    """ISO-8601 with an explicit UTC offset, alternating the two spellings."""
    text = moment.isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if index % 2 else text


def impression(rng: np.random.Generator, i: int) -> list[str]:
    query = str(rng.choice(QUERIES, p=QUERY_WEIGHTS / QUERY_WEIGHTS.sum()))
    advertiser_index = min(int(rng.zipf(1.6)) - 1, len(ADVERTISERS) - 1)
    ad_number = advertiser_index * 10 + int(rng.integers(0, 10))
    position = int(min(rng.geometric(0.35), 12))
    impressions = int(rng.negative_binomial(2, 0.002))
    true_ctr = float(rng.beta(2, 60)) / position**0.5
    clicks = int(rng.binomial(impressions, true_ctr))
    age = float(np.clip(rng.normal(36, 13), 16, 85))
    ts = START + dt.timedelta(seconds=int(rng.integers(0, 30 * 86_400)))
    clicked = bool(rng.random() < min(0.9, true_ctr * 3))
    return [
        query,
        f"ad_{ad_number:04d}",
        ADVERTISERS[advertiser_index],
        CATEGORIES[advertiser_index % len(CATEGORIES)],
        str(rng.choice(DEVICES, p=DEVICE_WEIGHTS)),
        "" if rng.random() < 0.06 else str(rng.choice(COUNTRIES)),
        str(position),
        "" if rng.random() < 0.35 else f"{age:.1f}",
        str(impressions),
        str(clicks),
        f"{float(rng.gamma(2.0, 0.4)) + 0.05:.2f}",
        instant(ts, i),
        "true" if clicked else "false",
    ]


def main() -> None:
    rng = np.random.default_rng(SEED)
    header = ["query", "ad_id", "advertiser", "ad_category", "device", "country", "position"]
    header += ["user_age", "impressions_30d", "clicks_30d", "bid", "request_ts", "clicked"]
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(impression(rng, i) for i in range(ROWS))
    print(f"wrote {OUT} ({ROWS} rows)")


if __name__ == "__main__":
    main()
