"""Every documented command on a plain `pip install featuredsl` (no extra): it works, or its
error names the extra it needs, and the README's table says so. The extras' packages are
blocked in a fresh interpreter (sys.modules[name] = None: `import` fails and find_spec finds
nothing, as on an install without them). scikit-learn is not blocked: skl2onnx, a core
dependency, installs it. Also: the wheel ships the templates inside featuredsl and installs no
other top-level package."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_bundle import churn_csv, churn_fitted
from test_shadow import classifier

from featuredsl.runtime.serving import Session

ROOT = Path(__file__).resolve().parent.parent
# Extras' packages (pyproject [project.optional-dependencies]), blocked for the run.
BLOCKED = (
    "pandas",
    "polars",
    "datasketches",
    "starlette",
    "uvicorn",
    "httptools",
    "prometheus_client",
    "httpx",
    "yaml",
)
# Commands that need an extra, and the extra their error and the README name.
NEEDS = {"profile": "sketches", "serve": "serve"}

RUNNER = """
import contextlib, io, json, sys


class Blocked:  # finds the extras' packages nowhere, as on an install without them

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, Blocked())
from featuredsl.cli.main import main
results = {{}}
for name, argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)
            code = 0
        except SystemExit as done:
            code = done.code or 0
    results[name] = [code, err.getvalue()]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, list[str]]]:
    root = tmp_path_factory.mktemp("plain")
    build = root / "build"
    churn_fitted().save(build)
    log = root / "serving.db"
    with Session(build, log=log) as session:
        session.transform_file(churn_csv())
    model = root / "model.onnx"
    model.write_bytes(classifier(len(churn_fitted().feature_names), 1).SerializeToString())
    t = pa.array(
        [1_700_000_000_000_000 + i * 3_600_000_000 for i in range(4)], pa.timestamp("us", tz="UTC")
    )
    pq.write_table(
        pa.table({"user": [1, 1, 2, 2], "t": t, "label": [0, 1, 0, 1]}), root / "labels.parquet"
    )
    pq.write_table(
        pa.table({"user": [1, 2, 2, 1], "ts": t, "x": [1.0, 2.0, 3.0, 4.0]}), root / "feats.parquet"
    )
    spec, data = str(ROOT / "examples/churn/churn.fdsl"), str(churn_csv())
    formatted = root / "formatted.fdsl"
    formatted.write_text("spec f\n\ninput {\n  a: int\n}\n\nfeature x = a + 1\n", encoding="utf-8")
    b = str(build)
    return [
        ("check", ["check", spec]),
        ("fmt", ["fmt", "--check", str(formatted)]),
        ("build", ["build", spec, "--data", data, "--out", str(root / "built")]),
        ("parity", ["parity", b]),
        ("golden", ["golden", spec, "--data", data, "--dir", str(ROOT / "golden/churn")]),
        ("verify", ["verify", b, "--runtime", "python"]),
        ("profile", ["profile", b, "--data", data, "--out", str(root / "profile.json")]),
        ("skew", ["skew", "--reference", str(log), "--current", str(log), "--fail-on", "never"]),
        ("replay", ["replay", b, "--log", str(log)]),
        ("bundle", ["bundle", b, str(model), "--out", str(root / "served.onnx"), "--assume-order"]),
        ("shadow", ["shadow", b, b, "--data", data]),
        ("pit-join", ["pit-join", str(root / "labels.parquet"), str(root / "feats.parquet"),
                      "--on", "user", "--label-time", "t", "--feature-time", "ts",
                      "--out", str(root / "joined.parquet")]),
        ("audit", ["audit", str(root / "joined.parquet"), "--label-time", "t", "--label", "label"]),
        ("show", ["show", b]),
        ("init", ["init", "--from-data", data, "--out", str(root / "init.fdsl")]),
        ("serve", ["serve", b]),
    ]  # fmt: skip


def test_every_command_works_or_names_its_extra(commands: list[tuple[str, list[str]]]) -> None:
    script = RUNNER.format(blocked=BLOCKED)
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(commands)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for name, (code, err) in results.items():
        extra = NEEDS.get(name)
        if extra is None:
            assert code == 0, (name, err)
        else:
            assert code == 1 and f"featuredsl[{extra}]" in err, (name, code, err)
            assert "Traceback" not in err


def test_the_readme_names_the_extras_commands_need() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `featuredsl ")]
    for command, extra in NEEDS.items():
        (row,) = [r for r in rows if r.startswith(f"| `featuredsl {command} ")]
        assert f"featuredsl[{extra}]" in row, row
    listed = {re.match(r"\| `featuredsl ([\w-]+)", r).group(1) for r in rows}  # type: ignore[union-attr]
    from featuredsl.cli.main import COMMANDS

    assert listed == set(COMMANDS)


def test_the_wheel_ships_templates_inside_featuredsl(tmp_path: Path) -> None:
    """`pip wheel . --no-deps` of a copy of the sources (about 10 s; the copy keeps setuptools'
    build/ out of the repository): one top-level package, the templates inside it."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "featuredsl", source / "featuredsl", ignore=shutil.ignore_patterns("__pycache__")
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(tmp_path)],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("featuredsl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"featuredsl"}
    for template in ("features_train.py.j2", "report.html.j2", "_style.css.j2", "notebook.html.j2"):
        assert f"featuredsl/templates/{template}" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pygments.lexers]" in text and "featuredsl.language.highlight" in text
