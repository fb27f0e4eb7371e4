"""Edge cases scale with the spec, not with the vocabulary (issue 18, item 6).

A fitted vocabulary of 100,000 strings (1,000,000 in the slow test): the parity edge cases
sample it (every boundary class, the first and last entries), and the numpy module keeps it
out of its code, in a constants file that the manifest hashes and the module checks."""

from __future__ import annotations

import importlib.util
import json
import math
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from featuredsl.artifact.conformance.edge_cases import edge_case_feed
from featuredsl.artifact.contract import CONSTANTS_FILE, MANIFEST_FILE, MODULE_FILE
from featuredsl.artifact.load import load
from featuredsl.artifact.spec import Spec
from featuredsl.compiler.boundaries import (
    END_ITEMS,
    SAMPLED_ITEMS,
    boundary_class,
    constant_pool,
    sample_boundaries,
)
from featuredsl.errors import ArtifactError
from featuredsl.parity.runner import run_parity

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import big_vocab  # noqa: E402  (bench/ is not a package)

DISTINCT = 100_000


@pytest.fixture(scope="module")
def fitted() -> object:
    items = big_vocab.distinct_strings(DISTINCT)
    feed = {
        "item": np.array(items, dtype=object),
        "amount": np.linspace(0.0, 100.0, DISTINCT),
    }
    return Spec(big_vocab.SPEC).fit(feed)


@pytest.fixture(scope="module")
def build_dir(fitted: object, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("big") / "build"
    fitted.save(out)  # type: ignore[attr-defined]
    return out


def test_the_edge_cases_sample_the_vocabulary(fitted: object) -> None:
    vocabulary = fitted.constants[0].value  # type: ignore[attr-defined]
    assert len(vocabulary) == DISTINCT
    pool = constant_pool(fitted.program)  # type: ignore[attr-defined]
    sampled = set(pool["string"])
    assert len(sampled) <= SAMPLED_ITEMS
    # The most frequent entries and the cut-off are kept, and one of every boundary class.
    assert set(vocabulary[:END_ITEMS]) | set(vocabulary[-END_ITEMS:]) <= sampled
    assert {boundary_class(v) for v in vocabulary} <= {boundary_class(v) for v in sampled}
    manifest = fitted.manifest()  # type: ignore[attr-defined]
    edge = edge_case_feed(manifest["inputs"], pool)
    assert len(edge["item"]) < 20_000  # 24 million rows for a million strings before


def test_sampling_is_deterministic_and_bounded() -> None:
    values = (*(f"v{i}" for i in range(10_000)), "", " pad", "ÄÖ", "😀", "UP")
    first = sample_boundaries(values)
    assert first == sample_boundaries(values)
    assert len(first) == SAMPLED_ITEMS
    assert {"", " pad", "ÄÖ", "😀", "UP"} <= set(first)
    short = tuple(range(SAMPLED_ITEMS))
    assert sample_boundaries(short) == short
    floats = (*(float(i) for i in range(5_000)), -0.0, 5e-324, math.inf, -1e300)
    kept = sample_boundaries(floats)
    assert {5e-324, math.inf, -1e300} <= set(kept)
    assert any(math.copysign(1.0, v) < 0 and v == 0 for v in kept)


def test_a_large_vocabulary_is_kept_out_of_the_code(build_dir: Path) -> None:
    module = (build_dir / MODULE_FILE).read_text("utf-8")
    assert len(module) < 20_000
    stored = json.loads((build_dir / CONSTANTS_FILE).read_bytes())
    assert [len(items) for items in stored.values()] == [DISTINCT]
    (items,) = stored.values()
    assert repr(items[0]) not in module
    manifest = json.loads((build_dir / MANIFEST_FILE).read_text("utf-8"))
    assert CONSTANTS_FILE in manifest["files"]


def test_the_module_and_the_graph_agree_on_the_data_and_the_edge_cases(
    fitted: object, build_dir: Path
) -> None:
    rows = np.arange(0, DISTINCT, 997)
    items = np.array(big_vocab.distinct_strings(DISTINCT), dtype=object)[rows]
    data = {"item": np.append(items, "not in the vocabulary"), "amount": np.zeros(len(rows) + 1)}
    report = run_parity(build_dir, data_feed=data)
    assert report.ok, report.format()
    indices = load(build_dir).transform_feed(data)[:, 0]
    assert indices[:-1].tolist() == [float(fitted.constants[0].value.index(i)) for i in items]  # type: ignore[attr-defined]
    assert indices[-1] == DISTINCT  # the one out-of-vocabulary bucket


def test_the_build_is_byte_deterministic(fitted: object, build_dir: Path) -> None:
    again = fitted.files()  # type: ignore[attr-defined]
    for name in (MODULE_FILE, CONSTANTS_FILE, MANIFEST_FILE):
        assert (build_dir / name).read_bytes() == again[name], name


def test_a_changed_constants_file_is_refused(build_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in build_dir.rglob("*"):
        if path.is_file():
            target = copy / path.relative_to(build_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    stored = copy / CONSTANTS_FILE
    (items,) = json.loads(stored.read_bytes()).values()
    entry = json.dumps(items[0]).encode()
    stored.write_bytes(stored.read_bytes().replace(entry, b'"tampered"', 1))
    with pytest.raises(ArtifactError, match=f"{CONSTANTS_FILE}: changed after the build"):
        load(copy)
    # The module refuses it on its own, without the manifest (numpy and the standard library).
    spec = importlib.util.spec_from_file_location("tampered", copy / MODULE_FILE)
    assert spec is not None and spec.loader is not None
    with pytest.raises(ImportError, match=r"differs from .*, the file this module was built with"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


@pytest.mark.slow
def test_a_million_string_vocabulary_builds_in_bounded_time_and_memory(tmp_path: Path) -> None:
    """The whole `featuredsl build` (CSV read, fit, both artifacts, kit, parity check), with the
    data's generation, in a child process: under 20 s of CPU and 2 GB (the build alone took 184 s
    of CPU and 8.5 GB before). CPU time rather than wall time, so that a busy machine does not
    fail it; the build is single-threaded, so on an idle machine they agree."""
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "big_vocab.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert usage.ru_maxrss < 2 * 1024 * 1024, f"peak memory {usage.ru_maxrss / 1024:.0f} MiB"
    assert usage.ru_utime + usage.ru_stime < 20, f"{usage.ru_utime + usage.ru_stime:.1f} s of CPU"
