"""numpy backend: renders a standalone, readable Python module from the fitted IR.

Each primitive has a small emitter in `EMITTERS` returning a Python expression over the
variables of its arguments. Every literal from a spec is rendered with repr(), so no spec text
can become code. Jinja2 lays out the file; expressions are rendered here.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import jinja2

from featuredsl import __version__
from featuredsl.backends.numpy import runtime as numpy_runtime
from featuredsl.backends.numpy.events import SourceStage, kernel_sources, render_source
from featuredsl.compiler.ir import EventSource, InputColumn, Node, Window, constant_value, walk
from featuredsl.compiler.libm import called_routines, routine_body, routine_docs
from featuredsl.compiler.primitives import ULP_BOUND
from featuredsl.compiler.types import DType, Shape

NUMPY_DTYPE = {
    DType.FLOAT: "np.float64",
    DType.INT: "np.int64",
    DType.BOOL: "np.bool_",
    DType.TIMESTAMP: "np.int64",
    DType.STRING: "_STRING",
}


CONSTANT_NAME = re.compile(r"\b_[A-Z]+\d+(?:_INDEX)?\b")
INLINE_ITEMS = 1_000  # longer list constants go to the module's constants file, if it has one


@dataclass
class ModuleContext:
    """What emitters need besides their arguments: module-level constants and helpers used.

    With a `constants_file`, list constants of more than INLINE_ITEMS items (a fitted vocabulary
    of a million strings) are stored there as JSON instead of written as code: `stored` holds
    them by name, and the module reads them back after checking the file's sha256."""

    constants_file: str | None = None
    constants: list[tuple[str, str]] = field(default_factory=list)
    helpers: set[str] = field(default_factory=set)
    stored: dict[str, list[object]] = field(default_factory=dict)
    _constant_names: dict[tuple[object, ...], str] = field(default_factory=dict)

    def constant(self, prefix: str, *lines: str) -> str:
        """Define module-level constants once; returns the first name."""
        return self._define((prefix, *lines), prefix, lines)

    def array(self, prefix: str, dtype: DType, values: Sequence[object], *lines: str) -> str:
        """A module-level numpy array of `values` (then `lines` over it, as in `constant`):
        written as code, or stored in the constants file when it is long."""
        if self.constants_file is None or len(values) <= INLINE_ITEMS:
            return self.constant(prefix, render_array(dtype, values), *lines)
        items = list(map(STORED_ITEM[dtype], values))
        key = (prefix, dtype, tuple(items), *lines)
        if key not in self._constant_names:
            read = f"np.array(_STORED[{{name!r}}], dtype={NUMPY_DTYPE[dtype]})"
            name = self._define(key, prefix, (read, *lines))
            self.stored[name] = items
        return self._constant_names[key]

    def _define(self, key: tuple[object, ...], prefix: str, lines: Sequence[str]) -> str:
        if key not in self._constant_names:
            name = f"_{prefix}{len(self._constant_names)}"
            self._constant_names[key] = name
            for index, line in enumerate(lines):
                suffix = ("", "_INDEX")[index] if prefix == "VOCAB" else ""
                text = line.replace("{name!r}", repr(name)).replace("{name}", name)
                self.constants.append((name + suffix, text))
        return self._constant_names[key]

    def helper(self, name: str) -> str:
        self.helpers.add(name)
        return name

    def drop_unused(self, code: Sequence[str]) -> None:
        """Forget the constants that neither `code` nor a constant kept uses (a vocabulary's
        list_const node, which lookup reads through its _INDEX)."""
        used = set(CONSTANT_NAME.findall("\n".join(code)))
        for name, line in reversed(self.constants):
            if name in used:
                used.update(CONSTANT_NAME.findall(line))
        self.constants = [(name, line) for name, line in self.constants if name in used]
        self.stored = {name: items for name, items in self.stored.items() if name in used}

    def stored_bytes(self) -> bytes | None:
        """The constants file: JSON, keys sorted, ASCII only (byte-deterministic)."""
        if not self.stored:
            return None
        text = json.dumps(self.stored, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
        return (text + "\n").encode("ascii")


# A list item as JSON holds it exactly (Python's json writes a float's repr, and NaN and
# +-Infinity, and reads them back bit for bit).
STORED_ITEM: dict[DType, Callable[[Any], object]] = {
    DType.FLOAT: float,
    DType.INT: int,
    DType.TIMESTAMP: int,
    DType.BOOL: bool,
    DType.STRING: str,
}


def render_scalar(dtype: DType, value: object) -> str:
    if dtype is DType.FLOAT:
        number = float(value)  # type: ignore[arg-type]
        if math.isnan(number) or math.isinf(number):
            return f'np.float64("{number}")'
        return f"np.float64({number!r})"
    if dtype in (DType.INT, DType.TIMESTAMP):
        return f"np.int64({int(value)!r})"  # type: ignore[call-overload]
    if dtype is DType.BOOL:
        return f"np.bool_({bool(value)!r})"
    return f"np.asarray({str(value)!r}, dtype=_STRING)"


def render_array(dtype: DType, values: Sequence[object]) -> str:
    items = ", ".join(_plain(dtype, v) for v in values)
    return f"np.array([{items}], dtype={NUMPY_DTYPE[dtype]})"


def _plain(dtype: DType, value: object) -> str:
    if dtype is DType.FLOAT:
        number = float(value)  # type: ignore[arg-type]
        return f'float("{number}")' if not math.isfinite(number) else repr(number)
    if dtype is DType.BOOL:
        return repr(bool(value))
    if dtype is DType.STRING:
        return repr(str(value))
    return repr(int(value))  # type: ignore[call-overload]


Emitter = Callable[[Node, list[str], ModuleContext], str]


def _call(function: str) -> Emitter:
    return lambda node, args, ctx: f"{function}({', '.join(args)})"


def _cast(node: Node, args: list[str], ctx: ModuleContext) -> str:
    return f"np.asarray({args[0]}).astype({NUMPY_DTYPE[node.dtype]})"


def _const(node: Node, args: list[str], ctx: ModuleContext) -> str:
    return render_scalar(node.dtype, constant_value(node))


def _list_const(node: Node, args: list[str], ctx: ModuleContext) -> str:
    return ctx.array("CONST", node.dtype, constant_value(node))


def _vocabulary(keys: Node, ctx: ModuleContext) -> str:
    index = "{value: i for i, value in enumerate({name}.tolist())}"
    return ctx.array("VOCAB", keys.dtype, constant_value(keys), index)


def _lookup(node: Node, args: list[str], ctx: ModuleContext) -> str:
    name = _vocabulary(node.args[1], ctx)
    return f"{ctx.helper('_lookup')}({args[0]}, {name}_INDEX)"


def _text(arg: str) -> str:
    """Strings travel as object arrays of str; numpy's string functions need StringDType."""
    return f"np.asarray({arg}, dtype=_STRING)"


def _bucketize(node: Node, args: list[str], ctx: ModuleContext) -> str:
    return f"{ctx.helper('_bucketize')}({args[0]}, {args[1]})"


def _one_hot(node: Node, args: list[str], ctx: ModuleContext) -> str:
    return f"{ctx.helper('_one_hot')}({args[0]}, {node.type.width})"


def _extremum(name: str) -> Emitter:
    """Integers: numpy's own; floats: a helper that also orders -0.0 below 0.0."""

    def emit(node: Node, args: list[str], ctx: ModuleContext) -> str:
        function = f"np.{name}" if node.dtype is not DType.FLOAT else ctx.helper(f"_{name}")
        return f"{function}({', '.join(args)})"

    return emit


def _string_test(method: str) -> Emitter:
    return lambda node, args, ctx: f"np.strings.{method}({_text(args[0])}, {node.attr('text')!r})"


EMITTERS: dict[str, Emitter] = {
    "const": _const,
    "list_const": _list_const,
    "list_size": lambda node, args, ctx: f"np.int64({len(node.args[0].attr('values'))})",
    "broadcast": lambda node, args, ctx: f"np.full(np.shape({args[1]}), {args[0]})",
    "add": _call("np.add"),
    "sub": _call("np.subtract"),
    "mul": _call("np.multiply"),
    "div": _call("np.divide"),
    "neg": _call("np.negative"),
    "int_floordiv": _call("np.floor_divide"),  # numpy: n // 0 is 0, INT64_MIN // -1 wraps
    "int_mod": _call("np.mod"),  # numpy: n % 0 is 0
    "fmod": _call("np.fmod"),
    "floor": _call("np.floor"),
    "ceil": _call("np.ceil"),
    "round_even": _call("np.rint"),
    "abs": _call("np.abs"),
    "minimum": _extremum("minimum"),
    "maximum": _extremum("maximum"),
    "sqrt": _call("np.sqrt"),
    "pow": lambda node, args, ctx: f"{ctx.helper('_pow')}({args[0]}, {args[1]})",
    "eq": _call("np.equal"),
    "ne": _call("np.not_equal"),
    "lt": _call("np.less"),
    "le": _call("np.less_equal"),
    "gt": _call("np.greater"),
    "ge": _call("np.greater_equal"),
    "and": _call("np.logical_and"),
    "or": _call("np.logical_or"),
    "not": _call("np.logical_not"),
    "where": _call("np.where"),
    "isnan": _call("np.isnan"),
    "to_float": _cast,
    "to_int": _cast,
    "to_string": _cast,
    "lower_ascii": lambda node, args, ctx: f"np.strings.translate({_text(args[0])}, _ASCII_LOWER)",
    "upper_ascii": lambda node, args, ctx: f"np.strings.translate({_text(args[0])}, _ASCII_UPPER)",
    "strip_spaces": lambda node, args, ctx: f'np.strings.strip({_text(args[0])}, " ")',
    "concat": lambda node, args, ctx: f"np.strings.add({', '.join(_text(a) for a in args)})",
    "starts_with": _string_test("startswith"),
    "ends_with": _string_test("endswith"),
    "contains": lambda node, args, ctx: (
        f"np.strings.find({_text(args[0])}, {node.attr('text')!r}) >= 0"
    ),
    "matches": lambda node, args, ctx: (
        f"{ctx.helper('_matches')}({args[0]}, {node.attr('pattern')!r})"
    ),
    "murmur3": lambda node, args, ctx: f"{ctx.helper('_murmur3')}({args[0]})",
    "lookup": _lookup,
    "bucketize": _bucketize,
    "gather": lambda node, args, ctx: f"{args[1]}[{args[0]}]",
    "one_hot": _one_hot,
    "call": lambda node, args, ctx: f"_{node.attr('routine')}({args[0]})",
}

# Ops a numpy module cannot compute (none): kept for the coverage test's symmetry with onnx.
UNSUPPORTED: dict[str, str] = {
    "fitted": "analyzers are replaced by constants before code generation"
}

INLINE_OPS = frozenset({"const"})


@dataclass(frozen=True)
class Statement:
    variable: str
    expression: str
    comment: str
    after: tuple[str, ...] = ()  # output stores and `del`s that follow this statement


def render_body(
    roots: Sequence[Node], ctx: ModuleContext, labels: dict[Node, str], plain: bool = False
) -> tuple[list[Statement], dict[Node, str], dict[str, bool]]:
    """One statement per node in dependency order; constants are inlined.

    Text is computed once per distinct value (unless `plain`): a node whose only varying inputs
    are one text column (its values and null mask) and that reads text is computed over the
    column's distinct values, and a row-level use gathers it by the column's codes. Returns
    (statements, the row-level variable of each node, coded columns: name -> codes with mask)."""
    order = list(walk(roots))
    column = {} if plain else text_columns(order)
    distinct, row = _levels(order, roots, column)
    names: dict[Node, str] = {}
    distinct_names: dict[Node, str] = {}
    coded: dict[str, bool] = {}
    statements: list[Statement] = []

    block_start = 0  # the first statement of the feature being emitted

    def add(expression: str, comment: str = "") -> str:
        nonlocal block_start
        variable = f"v{len(statements)}"
        statements.append(Statement(variable, expression, ""))
        if comment:  # a feature's label goes before the first statement of its block
            first = statements[block_start]
            statements[block_start] = Statement(first.variable, first.expression, comment)
            block_start = len(statements)
        return variable

    for node in order:
        if node.op == "input":
            names[node] = _input_variable(node)
            if node in distinct:
                mask = node.attr("role") == "mask"
                coded[node.attr("name")] = coded.get(node.attr("name"), False) or mask
                distinct_names[node] = names[node] + "_distinct"
            continue
        if node.op in UNSUPPORTED:
            raise ValueError(f"numpy backend cannot emit {node.op!r}: {UNSUPPORTED[node.op]}")
        if node.op in INLINE_OPS or node.op == "list_const":
            names[node] = distinct_names[node] = EMITTERS[node.op](node, [], ctx)
            continue
        label = labels.get(node, "")
        if node in distinct:
            args = [distinct_names[a] for a in node.args]
            distinct_names[node] = add(EMITTERS[node.op](node, args, ctx))
            if node in row:
                codes = input_variable(column[node]) + "_codes"
                names[node] = add(f"{distinct_names[node]}[{codes}]", label)
        elif node in row:
            names[node] = add(EMITTERS[node.op](node, [names[a] for a in node.args], ctx), label)
    return statements, names, coded


def text_columns(order: Sequence[Node]) -> dict[Node, str]:
    """The text column each node is a function of, when it is one text column's values and null
    mask (and constants) only. Inexact primitives are left out (their bits may depend on the
    number of elements)."""
    texts = {
        n.attr("name")
        for n in order
        if n.op == "input" and n.attr("role") == "value" and n.dtype is DType.STRING
    }
    column: dict[Node, str] = {}
    for node in order:
        if node.op == "input":
            if node.attr("name") in texts:
                column[node] = node.attr("name")
            continue
        if node.op in ULP_BOUND or _is_constant(node):
            continue
        found = {column.get(a) for a in node.args if not _is_constant(a)}
        if len(found) == 1 and None not in found:
            column[node] = found.pop()  # type: ignore[assignment]
    return column


def _is_constant(node: Node) -> bool:
    return node.op in INLINE_OPS or node.op == "list_const"


def _levels(
    order: Sequence[Node], roots: Sequence[Node], column: dict[Node, str]
) -> tuple[set[Node], set[Node]]:
    """(nodes computed over distinct values, nodes needed per row): a node that reads text goes
    to the distinct level, and so do the nodes of its column it reads."""
    # A node of a text column that reads text, or what was computed from text, runs once per
    # distinct value; but a one-hot row is written into the output from its gathered index.
    distinct: set[Node] = set()
    for node in order:
        if node not in column or node.op in ("input", "one_hot"):
            continue
        if any(a in distinct or (a.dtype is DType.STRING and a in column) for a in node.args):
            distinct.add(node)
    for node in reversed(order):  # and the nodes of the column those read
        if node in distinct:
            distinct.update(a for a in node.args if a in column)
    row: set[Node] = set(roots)
    for node in reversed(order):  # a row-level use of a distinct node is a gather
        if node in row and node not in distinct:
            row.update(node.args)
    return distinct, row


VARIABLE = re.compile(r"\bv\d+\b")


def schedule(
    statements: list[Statement], outputs: Sequence[tuple[str, int, bool]], stack: bool
) -> tuple[list[Statement], list[str]]:
    """Store each output as soon as it exists and drop temporaries after their last use, so peak
    memory stays near the few arrays alive at once. Returns (statements, stores before them)."""
    defined = {st.variable: i for i, st in enumerate(statements)}
    last_use: dict[str, int] = {}
    for index, statement in enumerate(statements):
        for name in VARIABLE.findall(statement.expression):
            last_use[name] = index
    stores: dict[int, list[str]] = {}
    early: list[str] = []
    column = 0
    used = {name for st in statements for name in VARIABLE.findall(st.expression)}
    stored = Counter(variable for variable, _, _ in outputs)
    for variable, width, matrix in outputs:
        target = f"out[:, {column}:{column + width}]" if matrix else f"out[:, {column}]"
        column += width
        expression = statements[defined[variable]].expression if variable in defined else ""
        alone = variable not in used and stored[variable] == 1  # not read, not stored twice
        if stack and matrix and alone and expression.startswith("_one_hot("):
            # written into the output in place, without a rows x width temporary
            position = expression[len("_one_hot(") :].rsplit(", ", 1)[0]
            place = defined.pop(variable)
            statements[place] = Statement(
                "", f"_one_hot_into({target}, {position})", statements[place].comment
            )
            continue
        if not stack:
            last_use[variable] = len(statements)  # returned: keep alive
        elif variable in defined:
            stores.setdefault(defined[variable], []).append(f"{target} = {variable}")
            last_use[variable] = max(last_use.get(variable, -1), defined[variable])
        else:
            early.append(f"{target} = {variable}")
    dead: dict[int, list[str]] = {}
    for variable, index in defined.items():
        dead.setdefault(last_use.get(variable, index), []).append(variable)
    result = []
    for index, statement in enumerate(statements):
        after = list(stores.get(index, []))
        if dead.get(index):
            after.append("del " + ", ".join(dead[index]))
        result.append(
            Statement(statement.variable, statement.expression, statement.comment, tuple(after))
        )
    return result, early


def _input_variable(node: Node) -> str:
    if node.attr("role") == "parameter":  # a routine's argument (featuredsl.compiler.libm)
        return str(node.attr("name"))
    return input_variable(node.attr("name"), node.attr("role") == "mask")


def input_variable(name: str, mask: bool = False) -> str:
    """The module's variable for an input column (or its null mask). Distinct prefixes: a column
    named `k_is_null` must not share a variable with k's mask. A quoted column name that is not
    an identifier (`mean radius`) gets its characters replaced and a hash of the name, so
    variables stay distinct and the name never reaches the code as code."""
    prefix = "null_" if mask else "in_"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return f"{prefix}{name}"
    plain = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return f"{prefix}{plain}_{digest}" if plain else f"{prefix}{digest}"


def routine_source(routine: str, ctx: ModuleContext) -> str:
    """A routine of featuredsl.compiler.libm as a helper function of the module: one statement
    per operation of its body, the same operations a call's inline expansion would issue."""
    parameter, result = routine_body(routine)
    statements, names, _ = render_body([result], ctx, {}, plain=True)
    lines = [f"def _{routine}({parameter.attr('name')}):", f'    """{routine_docs(routine)}"""']
    lines += [f"    {st.variable} = {st.expression}" for st in statements]
    lines.append(f"    return {names[result]}")
    return "\n".join(lines) + "\n"


def helper_sources(helpers: set[str]) -> list[str]:
    wanted: list[str] = []
    for helper in sorted(helpers):
        for dependency in numpy_runtime.HELPER_DEPENDENCIES[helper]:
            if dependency not in wanted:
                wanted.append(dependency)
    return [inspect.getsource(getattr(numpy_runtime, name)) for name in wanted]


def _environment() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: resources.files("featuredsl").joinpath("templates", name).read_text("utf-8")
    )
    return jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


@dataclass(frozen=True)
class ModuleSpec:
    """Everything the module template needs."""

    spec_name: str
    fingerprint: str
    inputs: tuple[InputColumn, ...]
    outputs: tuple[tuple[str, Node], ...]  # (label, node); labels are feature names
    column_names: tuple[str, ...]
    widths: tuple[int, ...]
    stack: bool = True  # False: return the list of output arrays (used by fit)
    constants_file: str | None = None  # where long list constants go (None: all in the code)
    # True: one statement per IR node, strings not coded once per column: the reference the
    # fuzzer holds the built module to (featuredsl.parity.fuzz.runner.check_plain_module).
    plain: bool = False
    # Window aggregates the module computes from the request's events (docs/windows.md), their
    # sources, and the prediction-time column their windows end at.
    sources: tuple[EventSource, ...] = ()
    windows: tuple[Window, ...] = ()
    time: str | None = None


def render_module(module: ModuleSpec) -> str:
    """The module's source; every constant is written in it (module.constants_file is unused)."""
    source, _ = render_module_files(replace(module, constants_file=None))
    return source


def render_module_files(module: ModuleSpec) -> tuple[str, bytes | None]:
    """The module's source and, if it stores long list constants, the bytes of
    module.constants_file, which the module reads from its own directory."""
    ctx = ModuleContext(module.constants_file)
    stages = _window_stages(module, ctx)
    labels = {node: f"feature {label}" for label, node in module.outputs}
    roots = [node for _, node in module.outputs]
    statements, names, coded = render_body(roots, ctx, labels, module.plain)
    output_variables = [
        (names[node], width, node.op == "one_hot")
        for (_, node), width in zip(module.outputs, module.widths, strict=True)
    ]
    statements, early_stores = schedule(statements, output_variables, module.stack)
    if any(st.expression.startswith("_one_hot_into(") for st in statements):
        ctx.helper("_one_hot_into")
    used_inputs = {
        n.attr("name") for n in walk(node for _, node in module.outputs) if n.op == "input"
    }
    ctx.drop_unused(
        [st.expression for st in statements]
        + early_stores
        + [names[node] for _, node in module.outputs]
        + [stage.function for stage in stages]
    )
    stored = ctx.stored_bytes()
    derived = [window.input for window in module.windows] if stages else []
    # The window filters' routines too: they run in the window stage (log of an event value).
    filters = [w.where for w in module.windows if w.where is not None] if stages else []
    routines = [routine_source(name, ctx) for name in called_routines([*roots, *filters])]
    template = _environment().get_template("features_train.py.j2")
    source = template.render(
        version=__version__,
        spec_name=module.spec_name,
        fingerprint=module.fingerprint,
        inputs=[
            {
                "name": column.name,
                "dtype": str(column.dtype),
                "nullable": column.nullable,
                "mask": column.mask_name,
                "variable": input_variable(column.name),
                "mask_variable": input_variable(column.name, mask=True),
                "used": column.name in used_inputs,
                # None: not coded; False: codes of the values; True: of (value, null) pairs
                "coded": coded.get(column.name),
                "derived": column in derived,  # a window aggregate: computed, not read
            }
            for column in (*module.inputs, *derived)
        ],
        column_names=module.column_names,
        statements=statements,
        early_stores=early_stores,
        outputs=[
            (label, names[node], width)
            for (label, node), width in zip(module.outputs, module.widths, strict=True)
        ],
        constants=ctx.constants,
        constants_file=module.constants_file if stored else None,
        constants_sha256=hashlib.sha256(stored).hexdigest() if stored else None,
        helpers=helper_sources(ctx.helpers)
        + routines
        + (kernel_sources() if stages else [])
        + [stage.function for stage in stages],
        window_lines=[line for stage in stages for line in stage.lines],
        uses_re="_matches" in ctx.helpers,
        width=sum(module.widths),
        stack=module.stack,
        repr=repr,
    )
    return source, stored


def _window_stages(module: ModuleSpec, ctx: ModuleContext) -> list[SourceStage]:
    """The window stage of every event source with windows (featuredsl.backends.numpy.events)."""
    if not module.windows:
        return []
    assert module.time is not None, "windows end at the prediction time"

    def render_filters(roots: Sequence[Node]) -> tuple[list[Statement], dict[Node, str]]:
        statements, names, _ = render_body(roots, ctx, {}, plain=True)
        return statements, names

    stages = []
    for source in module.sources:
        used = [w for w in module.windows if w.source == source.name]
        if used:
            time = input_variable(module.time)
            stages.append(render_source(source, used, time, render_filters, input_variable))
    return stages


def scalar_shape(node: Node) -> bool:
    return node.shape is Shape.SCALAR
