"""What a correct spec checks to: dtypes, shared IR nodes, output widths and names, inputs used."""

from __future__ import annotations

from pathlib import Path

import pytest

from featuredsl.cli.main import main as cli_main
from featuredsl.compiler.frontend import check_file, check_source
from featuredsl.compiler.ir import Program, constant_value, walk
from featuredsl.compiler.types import DType

EXAMPLES = sorted(Path(__file__).resolve().parents[1].glob("examples/*/*.fdsl"))
HEAD = """\
spec t

input {
  x: float
  y: float?
  n: int
  k: int?
  s: string
  s2: string?
  b: bool
  t: timestamp
  t2: timestamp?
}

"""


def check(body: str) -> Program:
    return check_source(HEAD + body + "\n", "t.fdsl")


def feature_dtype(expression: str) -> DType:
    return check(f"feature f = {expression}").features[0].dtype


def ops(program: Program) -> list[str]:
    return [node.op for node in walk(program.roots)]


@pytest.mark.parametrize(
    ("expression", "dtype"),
    [
        ("n + 1", DType.INT),
        ("n + 1.0", DType.FLOAT),
        ("n * x", DType.FLOAT),
        ("n / 2", DType.FLOAT),
        ("n // 2", DType.INT),
        ("x // 2", DType.FLOAT),
        ("n % 7", DType.INT),
        ("n ** 2", DType.FLOAT),
        ("-n", DType.INT),
        ("min(n, 3)", DType.INT),
        ("max(n, 3, x)", DType.FLOAT),
        ("clip(n, 0, 10)", DType.INT),
        ("round(n)", DType.INT),
        ("round(n, -1)", DType.INT),
        ("round(x, 2)", DType.FLOAT),
        ("abs(n)", DType.INT),
        ("floor(x)", DType.FLOAT),
        ("sqrt(n)", DType.FLOAT),
        ("n > x", DType.BOOL),
        ("t > t", DType.BOOL),
        ('s == "DE"', DType.BOOL),
        ("b and not b", DType.BOOL),
        ("if b then n else x", DType.FLOAT),
        ("if b then n else 1", DType.INT),
        ("fill_null(k, 0)", DType.INT),
        ("fill_null(y, n)", DType.FLOAT),
        ("coalesce(k, n)", DType.INT),
        ("is_null(s2)", DType.BOOL),
        ("float(b)", DType.FLOAT),
        ("fill_null(int(x), 0)", DType.INT),
        ("int(t)", DType.INT),
        ("bool(n)", DType.BOOL),
        ("lookup(s, vocab(s))", DType.INT),
        ("bucketize(x, quantiles(x, 4))", DType.INT),
        ("hash_bucket(n, 10)", DType.INT),
        ("cross(s, n, 100)", DType.INT),
        ("days_between(t, t)", DType.INT),
        ("hour(t)", DType.INT),
        ("zscore(n)", DType.FLOAT),
        ("count(s2)", DType.INT),
        ("n - min(n)", DType.INT),
        ('matches(lower(s), "[a-z]+")', DType.BOOL),
        ("-9223372036854775808", DType.INT),
        ("pi", DType.FLOAT),
        ("-inf", DType.FLOAT),
    ],
)
def test_result_dtypes(expression: str, dtype: DType) -> None:
    assert feature_dtype(expression) is dtype


def test_every_feature_is_a_float_output() -> None:
    program = check("feature a = n\nfeature b_ = b\nfeature c = x")
    assert [f.node.dtype for f in program.features] == [DType.FLOAT] * 3
    assert [f.dtype for f in program.features] == [DType.INT, DType.BOOL, DType.FLOAT]


def test_common_subexpressions_are_one_node() -> None:
    program = check("feature a = log1p(abs(x)) + 1\nfeature c = log1p(abs(x)) * 2")
    # log1p(abs(x)) is shared, so abs(x) appears once (log's own |u| is another abs)
    assert sum(1 for n in walk(program.roots) if n.op == "abs" and n.args[0].op == "input") == 1
    first, second = (f.node for f in program.features)
    in_second = {id(node) for node in walk([second])}
    shared = [node.op for node in walk([first]) if id(node) in in_second]
    assert shared == ["input", "abs", "call"]  # x, abs(x) and the log1p routine's call: one each


def test_a_let_is_computed_once_and_fitted_once() -> None:
    program = check("let z = zscore(x)\nfeature a = z\nfeature c = z * z + zscore(x)")
    fitted = [node.attr("analyzer") for node in walk(program.roots) if node.op == "fitted"]
    assert sorted(fitted) == ["mean", "scale_std"]


def test_nullable_inputs_used() -> None:
    program = check(
        "feature a = fill_null(y, 0) + n\n"
        "feature c = is_null(s2)\n"
        "feature d = fill_null(days_between(t2, t), -1)\n"
        "feature e_ = x"
    )
    used = {f.name: (f.inputs_used, f.nullable_inputs_used) for f in program.features}
    assert used == {
        "a": (("n", "y"), ("y",)),
        "c": (("s2",), ("s2",)),
        "d": (("t", "t2"), ("t2",)),
        "e_": (("x",), ()),
    }


def test_nullable_non_floats_get_a_mask_input() -> None:
    program = check("feature f = fill_null(k, 0) + fill_null(y, 0)")
    masks = {i.name: i.mask_name for i in program.inputs}
    assert masks["k"] == "k.is_null" and masks["s2"] == "s2.is_null" and masks["t2"] == "t2.is_null"
    assert masks["y"] is None and masks["x"] is None and masks["n"] is None
    roles = {(n.attr("name"), n.attr("role")) for n in walk(program.roots) if n.op == "input"}
    assert roles == {("k", "value"), ("k", "mask"), ("y", "value")}


def test_inputs_keep_declaration_order() -> None:
    names = [column.name for column in check("feature f = x").inputs]
    assert names == ["x", "y", "n", "k", "s", "s2", "b", "t", "t2"]


def test_one_hot_width_and_column_names() -> None:
    program = check(
        'feature oh = one_hot(s, ["DE", "FR"])\n'
        "feature oh2 = one_hot(n, [1, 2, 3], oov_buckets=2)\n"
        "feature plain = n"
    )
    assert program.feature_columns == (
        "oh[DE]",
        "oh[FR]",
        "oh[<oov>]",
        "oh2[1]",
        "oh2[2]",
        "oh2[3]",
        "oh2[<oov:0>]",
        "oh2[<oov:1>]",
        "plain",
    )
    assert program.features[0].node.type.width == 3


def test_a_fitted_vocabulary_width_is_known_after_fitting() -> None:
    program = check("feature oh = one_hot(s, vocab(s, top=10))\nfeature m = n")
    assert program.features[0].column_names is None
    assert program.features[1].column_names == ("m",)
    with pytest.raises(ValueError, match="after fitting"):
        _ = program.feature_columns
    assert not program.is_fitted


def test_a_keyword_after_a_skipped_optional_parameter_is_used() -> None:
    program = check("feature f = lookup(s, vocab(s, min_count=5), oov_buckets=0, default=7)")
    fitted = next(node for node in walk(program.roots) if node.op == "fitted")
    assert (fitted.attr("top"), fitted.attr("min_count")) == (0, 5)
    ints = {
        constant_value(n) for n in walk(program.roots) if n.op == "const" and n.dtype is DType.INT
    }
    assert 7 in ints


def test_constant_features_are_repeated_per_row() -> None:
    node = check("feature f = 2.5").features[0].node
    assert node.op == "broadcast"
    assert constant_value(node.args[0]) == 2.5


def test_bucket_boundaries_become_float_constants() -> None:
    program = check("feature f = bucketize(n, [-inf, 0, 10])")
    edges = next(node for node in walk(program.roots) if node.op == "list_const")
    assert constant_value(edges) == (float("-inf"), 0.0, 10.0)


def test_names_that_start_with_keywords_are_names() -> None:
    program = check(
        "let null_if_zero = null_if(n, 0)\n"
        "let true_rate = x\n"
        "let not_x = n\n"
        "let iffy = 1\n"
        "feature f = fill_null(null_if_zero, 1) + true_rate + not_x + iffy"
    )
    assert program.features[0].dtype is DType.FLOAT


def test_definitions_can_come_in_any_order() -> None:
    program = check("feature f = later * 2\nlet later = earlier + 1\nlet earlier = n")
    assert program.features[0].dtype is DType.INT


def test_a_long_chain_of_lets_checks() -> None:
    lets = "\n".join(f"let v{i} = v{i - 1} + 1" for i in range(1, 400))
    program = check(f"let v0 = n\n{lets}\nfeature f = v399")
    assert program.features[0].dtype is DType.INT


def test_canonical_source_ignores_comments_and_layout() -> None:
    plain = check("feature f = (n + 1) * 2")
    noisy = check_source(
        HEAD.replace("  x: float", "  x: float  # a comment")
        + "# lead\nfeature   f=(n+1)*2   # trailing\n",
        "t.fdsl",
    )
    assert plain.canonical_source == noisy.canonical_source
    assert "#" not in plain.canonical_source


def test_the_design_example_checks_as_written() -> None:
    program = check_file(Path(__file__).resolve().parents[1] / "examples/churn/churn.fdsl")
    summary = [(f.name, f.dtype.value, f.nullable_inputs_used) for f in program.features]
    assert summary == [
        ("age_z", "float", ("age",)),
        ("age_missing", "bool", ("age",)),
        ("income_log", "float", ("income",)),
        ("age_bucket", "int", ("age",)),
        ("country_idx", "int", ()),
        ("plan_oh", "float", ("plan",)),
        ("ctr", "float", ()),
        ("tenure_days", "int", ()),
        ("hour_sin", "float", ()),
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_examples_check(path: Path) -> None:
    program = check_file(path)
    assert program.features
    assert path.with_name("train.csv").is_file()


def test_check_command_accepts_every_example() -> None:
    assert len(EXAMPLES) >= 3
    with pytest.raises(SystemExit) as done:
        cli_main(["check", *map(str, EXAMPLES)])
    assert done.value.code == 0
