"""User data to the canonical feed: adapters, conversion, file readers and problem reports.

The feed is the one data boundary every runtime shares; see `featuredsl.ingest.feed` for its
layout and the rules, and docs/fit.md for the accepted sources.
"""

from __future__ import annotations

from featuredsl.ingest.feed import Feed, feed_length, take, to_feed
from featuredsl.ingest.files import read_table

__all__ = ["Feed", "feed_length", "read_table", "take", "to_feed"]
