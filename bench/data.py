"""Seeded churn table for the benchmark: a pandas DataFrame and the equivalent featuredsl feed.

Columns (matching bench/bench.fdsl):

    age             float?     normal(41, 12) clipped to 18..90, 8% null
    income          float?     log-normal, 15% null
    balance         float      normal, heavy negative tail
    clicks_7d       int        Poisson(3)
    impressions_7d  int        clicks + Poisson(40); about 2% are 0
    country         string     200 categories, Zipf-like frequencies
    plan            string?    4 categories, 10% null
    device          string     30 categories, 7 to 21 characters
    event_ts        timestamp  uniform over 2024 (UTC)
    signup_ts       timestamp  event_ts minus up to 6 years

The feed is built by hand (it does not go through featuredsl.ingest.to_feed): one numpy array
per column (float64 with NaN, int64, object arrays of str, int64 epoch microseconds) plus
"plan.is_null" for the nullable string column.
"""

from __future__ import annotations

import itertools
import string

import numpy as np
import pandas as pd

SEED = 20240601
COUNTRIES = 200
PLANS = ("basic", "standard", "premium", "enterprise")
PLAN_WEIGHTS = (0.5, 0.3, 0.15, 0.05)
DEVICES = 30
YEAR_2024_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
DAY_US = 86_400_000_000

Feed = dict[str, np.ndarray]


def country_names() -> list[str]:
    """200 two-letter codes, AA, AB, ... (code-point order differs from frequency order)."""
    letters = string.ascii_uppercase
    codes = ["".join(pair) for pair in itertools.product(letters, letters)]
    return codes[:COUNTRIES]


def device_names() -> list[str]:
    """30 device strings of 7 to 21 characters."""
    kinds = ("android-phone", "ios-phone", "android-tablet", "ipad", "web-desktop", "smart-tv-app")
    return [f"{kind}-v{version}" for kind in kinds for version in (1, 12, 123, 1234, 12345)]


def _zipf_choice(rng: np.random.Generator, labels: list[str], rows: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, len(labels) + 1) ** 1.1
    order = rng.permutation(len(labels))  # frequency rank unrelated to the label's text
    table = np.array(labels, dtype=object)[order]
    return table[rng.choice(len(labels), size=rows, p=weights / weights.sum())]


def make_feed(rows: int, seed: int = SEED) -> Feed:
    """The benchmark table as a featuredsl feed."""
    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(41.0, 12.0, rows), 18.0, 90.0).round(1)
    age[rng.random(rows) < 0.08] = np.nan
    income = np.exp(rng.normal(10.6, 0.7, rows)).round(2)
    income[rng.random(rows) < 0.15] = np.nan
    balance = (rng.normal(1500.0, 2500.0, rows) - rng.exponential(800.0, rows)).round(2)
    clicks = rng.poisson(3.0, rows).astype(np.int64)
    impressions = clicks + rng.poisson(40.0, rows).astype(np.int64)
    impressions[rng.random(rows) < 0.02] = 0
    plan_null = rng.random(rows) < 0.10
    plan = np.array(PLANS, dtype=object)[rng.choice(len(PLANS), size=rows, p=PLAN_WEIGHTS)]
    plan[plan_null] = ""  # placeholder under the mask
    event = YEAR_2024_US + rng.integers(0, 366 * DAY_US, rows, dtype=np.int64)
    signup = event - rng.integers(0, 6 * 365 * DAY_US, rows, dtype=np.int64)
    return {
        "age": age,
        "income": income,
        "balance": balance,
        "clicks_7d": clicks,
        "impressions_7d": impressions,
        "country": _zipf_choice(rng, country_names(), rows),
        "plan": plan,
        "plan.is_null": plan_null,
        "device": _zipf_choice(rng, device_names(), rows),
        "event_ts": event,
        "signup_ts": signup,
    }


def feed_to_frame(feed: Feed) -> pd.DataFrame:
    """The same table as a DataFrame: NaN / None for nulls, tz-aware UTC timestamps."""
    plan = feed["plan"].copy()
    plan[feed["plan.is_null"]] = None
    return pd.DataFrame(
        {
            "age": feed["age"],
            "income": feed["income"],
            "balance": feed["balance"],
            "clicks_7d": feed["clicks_7d"],
            "impressions_7d": feed["impressions_7d"],
            "country": pd.Series(feed["country"], dtype=object),
            "plan": pd.Series(plan, dtype=object),
            "device": pd.Series(feed["device"], dtype=object),
            "event_ts": _utc(feed["event_ts"]),
            "signup_ts": _utc(feed["signup_ts"]),
        }
    )


def _utc(micros: np.ndarray) -> pd.Series:
    return pd.Series(micros.astype("datetime64[us]")).dt.tz_localize("UTC")


def make_table(rows: int, seed: int = SEED) -> tuple[pd.DataFrame, Feed]:
    """(DataFrame, feed) of the same seeded table."""
    feed = make_feed(rows, seed)
    return feed_to_frame(feed), feed


def slice_feed(feed: Feed, start: int, stop: int) -> Feed:
    return {name: values[start:stop] for name, values in feed.items()}
