"""User data to the canonical feed: adapters, conversion, file readers and problem reports."""
