"""Text columns are coded once: operations run per distinct value, checks too (same errors)."""

from __future__ import annotations

import numpy as np
import pytest

from featuredsl.artifact.spec import Spec
from featuredsl.parity.fuzz.runner import check_plain_module

SPEC = """spec t
input {
  country: string
  plan: string?
  x: float
}
feature country_idx = lookup(country, vocab(country))
feature plan_oh     = one_hot(fill_null(plan, "none"), vocab(fill_null(plan, "none")))
feature plan_hash   = hash_bucket(fill_null(plan, "none"), 8)
feature x2          = x * 2.0
"""


def _feed(rows: int = 50) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    countries = np.array(["DE", "US", "FR", "família", ""], dtype=object)
    plans = np.array(["free", "pro", "", "team"], dtype=object)
    return {
        "country": countries[rng.integers(0, len(countries), rows)],
        "plan": plans[rng.integers(0, len(plans), rows)],
        "plan.is_null": rng.random(rows) < 0.3,
        "x": rng.normal(size=rows),
    }


@pytest.fixture(scope="module")
def fitted():
    return Spec(SPEC).fit(_feed())


def test_the_module_codes_text_columns_once(fitted) -> None:
    source = fitted.numpy_source
    assert "_text_codes('country', in_country)" in source
    assert "_with_nulls(in_plan_distinct, in_plan_codes, null_plan)" in source
    assert "_lookup(in_country_distinct" in source


def test_coded_text_gives_the_bits_of_the_plain_module(fitted) -> None:
    feed = _feed(1_000)
    feed["plan"][:10] = "unseen"  # out of the vocabulary, null or not
    check_plain_module(fitted, feed, fitted.transform_feed(feed))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "column 'country' must hold only str values"),
        (["a"], "column 'country' must hold only str values"),
        ("a\x00b", "holds a NUL character"),
        ("\ud800", "not valid Unicode"),
        ("e\u0301", "column 'country', row 7: 'e\\u0301' is not in Unicode NFC form"),
    ],
)
def test_a_bad_value_is_reported_as_before(fitted, value: object, message: str) -> None:
    feed = _feed(20)
    feed["country"] = feed["country"].copy()
    feed["country"][7] = value
    feed["country"][12] = value
    with pytest.raises(ValueError, match=message.replace("\\", "\\\\").replace("(", r"\(")):
        fitted.transform_feed(feed)
