"""Calendar ops in a named IANA zone and make_timestamp: zoneinfo's answers, in both runtimes.

The reference is Python's zoneinfo reading the same tzdata package the zone tables come from.
Instants are drawn across 1900-2100 and placed on every transition and one microsecond either
side; local times are drawn in DST gaps and folds.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import onnxruntime as ort
import pytest

from featuredsl.artifact.spec import Spec
from featuredsl.compiler import zones
from featuredsl.language.diagnostics import DiagnosticError

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
ZONES = ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]


def _both(spec: Spec, feed: dict[str, np.ndarray]) -> np.ndarray:
    fitted = spec.fit_feed(feed)  # a canonical feed: instants far outside the years 1-9999 too
    numpy_out = fitted.transform_feed(feed)
    session = ort.InferenceSession(fitted.onnx_model().SerializeToString())
    onnx_out = session.run(["features"], feed)[0]
    assert np.array_equal(onnx_out.view(np.int64), numpy_out.view(np.int64))
    return numpy_out


def _instants(zone: str, n: int = 1500) -> np.ndarray:
    rng = np.random.default_rng(len(zone))
    low, high = int(zones.FIRST.timestamp()) * 10**6, int(zones.LAST.timestamp()) * 10**6
    transitions = np.array(zones.table(zone).utc, dtype=np.int64)
    around = (transitions[:, None] + np.array([-1, 0, 1])).ravel()
    far = np.array([-(2**62), 2**62, -62135596800000000, 253402300799999999], dtype=np.int64)
    return np.concatenate([rng.integers(low, high, n), around, far])


@pytest.mark.parametrize("zone", ZONES)
def test_calendar_ops_in_a_zone_are_zoneinfos(zone: str) -> None:
    source = f"""spec z
input {{ t: timestamp  t2: timestamp }}
feature y = year(t, "{zone}")
feature mo = month(t, "{zone}")
feature d = day(t, "{zone}")
feature h = hour(t, "{zone}")
feature mi = minute(t, "{zone}")
feature s = second(t, "{zone}")
feature dow = day_of_week(t, "{zone}")
feature doy = day_of_year(t, "{zone}")
feature days = days_between(t2, t, "{zone}")
"""
    t = _instants(zone)
    t2 = np.roll(t, 1)
    out = _both(Spec(source, "z.fdsl"), {"t": t, "t2": t2})
    tz = zones._zone(zone)
    table = zones.table(zone)
    for i, (a, b) in enumerate(zip(t.tolist(), t2.tolist(), strict=True)):
        low, high = (int(x.timestamp()) * 10**6 for x in (zones.FIRST, zones.LAST))
        if not all(low <= v < high for v in (a, b)):
            # Outside the table: the offset at the nearest end of the range (documented).
            continue
        local = (EPOCH + dt.timedelta(microseconds=a)).astimezone(tz)
        local2 = (EPOCH + dt.timedelta(microseconds=b)).astimezone(tz)
        want = [local.year, local.month, local.day, local.hour, local.minute, local.second]
        want += [local.weekday(), local.timetuple().tm_yday, (local.date() - local2.date()).days]
        assert out[i].tolist() == want, (zone, a, out[i].tolist(), want)
    assert len(table.utc) == 0 or len(t) > len(table.utc)


def test_make_timestamp_in_gaps_folds_and_impossible_dates() -> None:
    source = """spec m
input { y: int  mo: int  d: int  h: int  mi: int }
feature seconds = fill_null(seconds_between(make_timestamp(1970, 1, 1), make_timestamp(y, mo, d, h, mi, 0, "America/New_York")), -1)
"""
    rows = [
        (2024, 3, 10, 2, 30),  # gap: 02:30 does not exist; zoneinfo (fold=0) reads it as EST
        (2024, 11, 3, 1, 30),  # fold: 01:30 happens twice; the earlier (EDT) instant
        (2024, 7, 4, 12, 0),
        (1905, 1, 1, 0, 0),
        (2024, 2, 30, 0, 0),  # no such date: null
        (2023, 13, 1, 0, 0),
        (2024, 1, 1, 24, 0),
        (0, 1, 1, 0, 0),
    ]
    feed = {
        k: np.array(v, dtype=np.int64)
        for k, v in zip(["y", "mo", "d", "h", "mi"], zip(*rows, strict=True), strict=True)
    }
    out = _both(Spec(source, "m.fdsl"), feed)[:, 0].tolist()
    tz = zones._zone("America/New_York")
    want = [int(dt.datetime(*r, tzinfo=tz).timestamp()) for r in rows[:4]] + [-1, -1, -1, -1]
    assert out == want


def test_unknown_zone_is_a_diagnostic_with_a_caret() -> None:
    with pytest.raises(DiagnosticError, match="unknown time zone 'Mars/Olympus'"):
        Spec('spec z\ninput { t: timestamp }\nfeature h = hour(t, "Mars/Olympus")\n', "z.fdsl")


def test_the_fingerprint_covers_the_tzdata_version(tmp_path) -> None:
    feed = {"t": np.array([0, 10**12], dtype=np.int64)}
    zoned = Spec('spec z\ninput { t: timestamp }\nfeature h = hour(t, "Europe/Berlin")\n', "z.fdsl")
    fitted = zoned.fit(feed, timestamp_unit="us")
    manifest = fitted.manifest()
    assert manifest["tzdata"] == zones.tzdata_version()
    plain = Spec("spec z\ninput { t: timestamp }\nfeature h = hour(t)\n", "z.fdsl").fit_feed(feed)
    assert "tzdata" not in plain.manifest()
