"""Editors and hooks: the Pygments lexer (found through its entry point) lexes every example,
every ```fdsl block of the docs and every op's example without an Error token, documented
specs are tagged fdsl, and .pre-commit-hooks.yaml runs real featuredsl commands."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Error, Token

from featuredsl.compiler.registry import OPS
from featuredsl.language.highlight import FeatureDSLLexer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(ROOT.glob("examples/*/*.fdsl"))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def errors(text: str) -> list[tuple[object, str]]:
    return [(t, v) for t, v in FeatureDSLLexer().get_tokens(text) if t in Error]


def fdsl_blocks() -> list[tuple[str, str]]:
    blocks = []
    for doc in DOCS:
        for match in FENCE.finditer(doc.read_text(encoding="utf-8")):
            if match.group(1) == "fdsl":
                blocks.append((doc.name, match.group(2)))
    return blocks


def test_the_lexer_is_registered_through_its_entry_point() -> None:
    assert isinstance(get_lexer_by_name("fdsl"), FeatureDSLLexer)
    assert isinstance(get_lexer_for_filename("churn.fdsl"), FeatureDSLLexer)


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.name)
def test_every_example_lexes_without_errors(spec: Path) -> None:
    text = spec.read_text(encoding="utf-8")
    assert errors(text) == []
    kinds = {t for t, _ in FeatureDSLLexer().get_tokens(text)}
    assert Token.Keyword.Type in kinds and Token.Name.Function in kinds


def test_every_fdsl_block_of_the_docs_lexes_and_specs_are_tagged() -> None:
    blocks = fdsl_blocks()
    assert {name for name, _ in blocks} >= {"README.md", "language.md"}
    for name, block in blocks:
        assert errors(block) == [], name
    # A documented spec is tagged fdsl, so the docs are highlighted with the lexer.
    for doc in DOCS:
        for match in FENCE.finditer(doc.read_text(encoding="utf-8")):
            if match.group(1) == "" and re.search(r"^(spec \w|input \{)", match.group(2), re.M):
                raise AssertionError(f"{doc.name}: an untagged spec block: {match.group(2)[:60]!r}")


def test_every_ops_example_lexes() -> None:
    for op in OPS:
        assert errors(op.example) == [], op.name


def test_text_the_language_refuses_is_an_error_token() -> None:
    assert errors("feature x = lookup(c, ['a'])")  # single quotes
    assert errors('feature x = "unterminated\n')
    assert errors("feature x = a @ b")


def test_pre_commit_hooks_run_featuredsl(tmp_path: Path) -> None:
    import yaml

    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"featuredsl-fmt", "featuredsl-check"}
    good = tmp_path / "good.fdsl"
    good.write_text("spec good\n\ninput {\n  a: int\n}\n\nfeature x = a + 1\n", encoding="utf-8")
    bad = tmp_path / "bad.fdsl"
    bad.write_text("spec bad\ninput {\n  a: int\n}\nfeature   x = a +\n", encoding="utf-8")
    for hook in hooks.values():
        assert not re.search(hook["files"], "notes.md")
        assert re.search(hook["files"], "specs/churn.fdsl")
        command = shlex.split(hook["entry"])
        assert command[0] == "featuredsl"
        run = [sys.executable, "-m", "featuredsl.cli.main", *command[1:]]
        assert subprocess.run([*run, str(good)], capture_output=True).returncode == 0
        assert subprocess.run([*run, str(bad)], capture_output=True).returncode == 1
