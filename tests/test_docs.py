"""docs/language.md is generated from the catalogue and must agree with it; examples must check."""

from __future__ import annotations

from pathlib import Path

import pytest

from featuredsl.compiler import docgen
from featuredsl.compiler import registry as reg
from featuredsl.compiler.frontend import check_source
from featuredsl.compiler.op import NullRule, Op, Returns

DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"


@pytest.fixture(scope="module")
def rendered() -> str:
    return docgen.render()


def test_language_reference_is_up_to_date(rendered: str) -> None:
    assert DOC.read_text(encoding="utf-8") == rendered, (
        "docs/language.md differs from the catalogue: run python -m featuredsl.compiler.docgen"
    )


def test_check_flag_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "language.md"
    stale.write_text("# old\n", encoding="utf-8")
    assert docgen.main(["--check", "--out", str(stale)]) == 1
    assert docgen.main(["--out", str(stale)]) == 0
    assert docgen.main(["--check", "--out", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("op", reg.OPS, ids=[f"{op.category}-{op.name}" for op in reg.OPS])
def test_every_op_is_documented_with_its_catalogue_entry(op: Op, rendered: str) -> None:
    section = rendered.split(f"\n### `{op.signature}`", 1)[1].split("\n### ", 1)[0]
    assert f"Example: `{op.example}`" in section
    assert op.doc.replace("|", "\\|") in section
    assert op.null_rule.text in section
    for param in op.params:
        assert f"`{param.name}`:" in section


@pytest.mark.parametrize("op", reg.OPS, ids=[f"{op.category}-{op.name}" for op in reg.OPS])
def test_every_example_checks(op: Op) -> None:
    program = check_source(docgen.example_spec(op.example), f"{op.name}.fdsl")
    assert [feature.name for feature in program.features] == ["f"]


def test_every_op_has_complete_metadata() -> None:
    for op in reg.OPS:
        assert op.name and op.category in docgen.CATEGORY_TITLES, op
        assert op.returns in docgen.RETURNS_TEXT, op
        assert isinstance(op.null_rule, NullRule) and isinstance(op.returns, Returns), op
        assert op.doc.strip() and op.example.strip(), op


def test_the_reference_covers_the_language_rules(rendered: str) -> None:
    text = rendered
    for needle in (
        "NAME.is_null",
        "int64 microseconds since 1970-01-01T00:00:00Z",
        "U+0000",
        "`1e-3`",
        "`\\uXXXX`",
        "feature[<oov>]",
        "float64 matrix",
        "| 9 | `**` | right |",
        "round-to-nearest-even",
    ):
        assert needle in text, needle
    for name in reg.CONSTANTS:
        assert f"`{name}`" in text


def test_api_reference_is_up_to_date_and_complete() -> None:
    from featuredsl.cli import apidoc

    assert apidoc.main(["--check"]) == 0, "run python -m featuredsl.cli.apidoc"
    undocumented = [name for name, obj in apidoc.entries() if not apidoc._doc(obj)]
    assert not undocumented
