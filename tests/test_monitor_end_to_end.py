"""With a real build: profile at build time, serve through the logging wrapper with a buggy
client, then `featuredsl skew` and `featuredsl replay` find exactly what the client broke."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from featuredsl.cli.main import main
from featuredsl.monitor.serving_log import LoggedSession

SPEC = """\
spec toy

input {
  income: float?
  country: string
}

feature income_k    = fill_null(income, 0.0) / 1000.0
feature income_log  = log1p(fill_null(income, 0.0))
feature country_idx = lookup(country, vocab(country), oov_buckets=1)
"""


def _table(seed: int, n: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.5, n).round(2)
    return pa.table(
        {
            "income": pa.array(income, mask=rng.random(n) < 0.05),
            "country": rng.choice(np.array(["US", "DE", "FR"], dtype=object), n),
        }
    )


def run(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out + err


class GermanCentsClient:
    """Hand-written serving code in front of the graph: it sends German incomes in cents."""

    def __init__(self, session) -> None:
        self.session = session

    def run(self, output_names, feed, run_options=None):
        cents = np.where(feed["country"] == "DE", feed["income"] * 100.0, feed["income"])
        return self.session.run(output_names, {**feed, "income": cents})

    def get_modelmeta(self):
        return self.session.get_modelmeta()

    def get_outputs(self):
        return self.session.get_outputs()


def test_profile_serve_skew_replay(tmp_path: Path, capsys) -> None:
    artifacts = pytest.importorskip("featuredsl.artifact.load")
    spec, train, build = tmp_path / "toy.fdsl", tmp_path / "train.csv", tmp_path / "build"
    spec.write_text(SPEC)
    pacsv.write_csv(_table(0, 4000), train)
    code, output = run(["build", str(spec), "--data", str(train), "--out", str(build)], capsys)
    assert code == 0, output
    profile = tmp_path / "profile.json"
    code, output = run(["profile", str(build), "--data", str(train), "--out", str(profile)], capsys)
    assert code == 0, output

    artifact = artifacts.load(build)
    log = tmp_path / "serving.db"
    session = LoggedSession(GermanCentsClient(artifact.session), log, artifact.fingerprint)
    served = _table(1, 1200)
    for start in range(0, 1200, 12):
        session.run(["features"], artifact.feed(served.slice(start, 12)))
    session.close()
    country = np.asarray(served.column("country").to_pylist(), dtype=object)
    has_income = ~np.asarray(served.column("income").is_null().to_pylist())
    broken = int(np.sum((country == "DE") & has_income))

    replay_json = tmp_path / "replay.json"
    code, output = run(
        ["replay", str(build), "--log", str(log), "--json", str(replay_json)], capsys
    )
    assert code == 1, output
    features = {f["name"]: f for f in json.loads(replay_json.read_text())["features"]}
    for name in ("income_k", "income_log"):
        assert (features[name]["mismatch"], features[name]["rows"]) == (broken, 1200)
        assert features[name]["mismatch_rate"] == broken / 1200
    assert features["country_idx"]["match"] == 1200

    skew_json = tmp_path / "skew.json"
    code, output = run(
        ["skew", "--profile", str(profile), "--current", str(log), "--json", str(skew_json)], capsys
    )
    assert code == 1, output
    results = {(f["group"], f["name"]): f for f in json.loads(skew_json.read_text())["features"]}
    severity = {key: f["severity"] for key, f in results.items()}
    advice = {key: f["recommendation"] for key, f in results.items()}
    assert "about 100 times the reference while the rest match" in advice[("features", "income_k")]
    assert "about ln(100) above the reference" in advice[("features", "income_log")]
    assert severity[("features", "income_k")] == "severe"
    assert severity[("features", "country_idx")] == "none"
    assert severity[("inputs", "income")] == "none"  # the log holds what the client was given
    assert severity[("inputs", "country")] == "none"
