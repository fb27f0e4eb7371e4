"""AST -> typed IR: names, types, arity, null-safety, analyzer rules; every error collected."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from featuredsl.compiler import registry as reg
from featuredsl.compiler.builder import Emitter, LoweringError, Value, null_mask
from featuredsl.compiler.ir import (
    AsOf,
    Builder,
    EventSource,
    Feature,
    Freshness,
    InputColumn,
    Node,
    Program,
    Window,
    constant_value,
    walk,
)
from featuredsl.compiler.op import INT64_MAX, INT64_MIN, NullRule, Op, Param
from featuredsl.compiler.ops import windows as window_ops
from featuredsl.compiler.ops.categorical import column_names
from featuredsl.compiler.types import DType, Shape, type_text
from featuredsl.language import ast
from featuredsl.language.diagnostics import DiagnosticSink, Span
from featuredsl.language.durations import human_duration
from featuredsl.language.formatter import format_expr


class _Abort(Exception):
    """Stops checking one expression after its error was recorded."""


@dataclass
class _Definition:
    statement: ast.Statement
    value: Value | None = None
    done: bool = False


class Checker:
    def __init__(self, spec: ast.Spec, source: str, filename: str, builder: Builder | None = None):
        self.spec = spec
        self.source = source
        self.filename = filename
        self.sink = DiagnosticSink()
        self.builder = builder or Builder()
        self.inputs: dict[str, tuple[InputColumn, Value, Span]] = {}
        self.definitions: dict[str, _Definition] = {}
        self.resolving: list[str] = []
        self.freshness: Freshness | None = None
        # Event sources by name: the source and its columns' values (IR inputs `source.col`).
        self.sources: dict[str, tuple[EventSource, dict[str, Value]]] = {}
        self.windows: dict[str, Window] = {}  # by derived column name, in first-use order
        self.event_scope: str | None = None  # the source whose `where =` filter is checked

    # ------------------------------------------------------------------ driver
    def run(self, canonical_source: str) -> Program:
        self._declare_inputs()
        self._declare_freshness()
        self._declare_sources()
        self._declare_statements()
        # Dependencies first, so that a long chain of lets does not recurse once per link.
        for name in self._dependency_order():
            self._resolve(name, self.definitions[name].statement.name_span)
        features = []
        for name, definition in self.definitions.items():
            if definition.statement.kind != "feature":
                continue
            value = self._resolve(name, definition.statement.name_span)
            if value is not None and self.inputs:
                feature = self._feature(definition.statement, value)
                if feature is not None:
                    features.append(feature)
        for name, definition in self.definitions.items():
            if definition.statement.kind == "let" and not definition.done:
                self._resolve(name, definition.statement.name_span)
        # Named anywhere (even in a call with an error of its own, reported already): used.
        named = {
            n.source if isinstance(n, ast.Member) else n.id
            for statement in self.spec.statements
            for n in _subexpressions(statement.expr)
            if isinstance(n, (ast.Member, ast.Name))
        }
        for source in self.spec.sources:
            if source.name in self.sources and source.name not in named:
                self.sink.error(
                    f"event source '{source.name}' is not used by any window aggregate",
                    source.name_span,
                    f"aggregate it (window_count({source.name}, 7d), ...) or remove the block",
                )
        if not any(statement.kind == "feature" for statement in self.spec.statements):
            self.sink.error(
                f"spec '{self.spec.name}' declares no features",
                self.spec.span,
                "add: feature NAME = EXPRESSION",
            )
        self.sink.raise_if_any(self.source, self.filename)
        return Program(
            self.spec.name,
            tuple(column for column, _, _ in self.inputs.values()),
            tuple(features),
            canonical_source,
            self.source,
            self.filename,
            self.freshness,
            tuple(source for source, _ in self.sources.values()),
            tuple(self.windows.values()),
        )

    def _declare_inputs(self) -> None:
        if not self.spec.columns:
            self.sink.error(
                "the input block declares no columns",
                self.spec.input_span,
                "add: input { x: float }",
            )
        for column in self.spec.columns:
            if column.name in self.inputs:
                line = self.inputs[column.name][2].line
                self.sink.error(
                    f"column '{column.name}' is declared twice",
                    column.span,
                    f"first declared on line {line}",
                )
                continue
            if column.name in reg.CONSTANTS:
                self.sink.error(
                    f"'{column.name}' is a built-in constant", column.span, "rename the column"
                )
                continue
            dtype = DType(column.type_name)
            info = InputColumn(column.name, dtype, column.nullable)
            value_node = self.builder.node(
                "input", (), _row(dtype), {"name": column.name, "role": "value"}, column.span
            )
            mask = None
            if info.mask_name is not None:
                mask = self.builder.node(
                    "input",
                    (),
                    _row(DType.BOOL),
                    {"name": column.name, "role": "mask"},
                    column.span,
                )
            self.inputs[column.name] = (info, Value(value_node, mask, column.nullable), column.span)

    # ------------------------------------------------------------------ freshness
    def _declare_freshness(self) -> None:
        """`time COLUMN` and each column's `as_of` / `max_age` / `else`: checked, and a column
        whose stale values become null gets its nulling built into the IR (both backends)."""
        time = self._time_column()
        rules = []
        for column in self.spec.columns:
            rule = self._as_of_rule(column, time)
            if rule is None:
                continue
            rules.append(rule)
            if rule.stale == "null" and time is not None and column.name in self.inputs:
                self._null_when_stale(column, rule, time)
        if time is not None:
            self.freshness = Freshness(time, tuple(rules))

    def _time_column(self) -> str | None:
        decls = self.spec.time_decls
        for extra in decls[1:]:
            self.sink.error(
                "the prediction time is declared twice",
                extra.span,
                f"keep one `time` line (first on line {decls[0].span.line})",
            )
        if not decls:
            return None
        decl = decls[0]
        if not self._timestamp_column(decl.column, decl.span, "the prediction time"):
            return None
        return decl.column

    def _timestamp_column(self, name: str, span: Span, role: str, owner: str = "") -> bool:
        """Whether `name` is a declared non-nullable timestamp column; an error if not.

        `role` says what the column is for ("the prediction time", "the as-of column"), `owner`
        whose as-of column it is."""
        of = f" of '{owner}'" if owner else ""
        if name not in self.inputs:
            close = difflib.get_close_matches(name, list(self.inputs), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"declare it: {name}: timestamp"
            self.sink.error(f"{role}{of} names '{name}', which is not an input column", span, hint)
            return False
        info = self.inputs[name][0]
        if info.dtype is not DType.TIMESTAMP:
            self.sink.error(
                f"{role} '{name}'{of} is a {type_text(info.dtype, info.nullable)}, not a timestamp",
                span,
                f"declare it `{name}: timestamp` (int64 microseconds UTC, or tz-aware datetimes)",
            )
            return False
        if info.nullable:
            fix = (
                "every row has a prediction time"
                if role == "the prediction time"
                else "when the value is missing, send it as null with any as-of time (a null "
                "has no age)"
            )
            self.sink.error(
                f"{role} '{name}'{of} is nullable; a row without it has no age",
                span,
                f"declare it `{name}: timestamp`: {fix}",
            )
            return False
        return True

    def _as_of_rule(self, column: ast.Column, time: str | None) -> AsOf | None:
        if not column.options:
            return None
        by_kind: dict[str, ast.ColumnOption] = {}
        for option in column.options:
            if option.kind in by_kind:
                self.sink.error(
                    f"'{option.kind}' is given twice for column '{column.name}'",
                    option.span,
                    "keep one",
                )
            else:
                by_kind[option.kind] = option
        as_of, max_age, policy = (by_kind.get(k) for k in ("as_of", "max_age", "else"))
        if as_of is None:
            first = max_age or policy
            assert first is not None
            self.sink.error(
                f"'{first.kind}' on column '{column.name}' needs an as-of column: a value's age "
                "is prediction time - as-of time",
                first.span,
                f"add the column holding the value's time: {column.name}: ... as_of {column.name}_ts "
                f"{first.kind} {first.value}",
            )
            return None
        if policy is not None and max_age is None:
            self.sink.error(
                f"'else {policy.value}' on column '{column.name}' has no budget to apply to",
                policy.span,
                f"give the maximum age first: as_of {as_of.value} max_age 6h else {policy.value}",
            )
            return None
        if time is None:
            if not self.spec.time_decls:
                self.sink.error(
                    f"column '{column.name}' has an as-of time but the spec names no prediction "
                    "time",
                    as_of.span,
                    "declare the prediction time in the input block: time event_ts",
                )
            return None
        if as_of.value == column.name or as_of.value == time:
            what = "itself" if as_of.value == column.name else "the prediction time"
            self.sink.error(
                f"column '{column.name}' is as of {what}",
                as_of.span,
                "name the column holding the time this value was computed or loaded",
            )
            return None
        if not self._timestamp_column(as_of.value, as_of.span, "the as-of column", column.name):
            return None
        stale = None if max_age is None else (policy.value if policy is not None else "refuse")
        if stale == "null" and not column.nullable:
            assert policy is not None
            self.sink.error(
                f"'else null' treats a stale '{column.name}' as null, but '{column.name}' is not "
                "nullable",
                policy.span,
                f"declare it `{column.name}: {column.type_name}?` and handle the null (fill_null, "
                "is_null), or refuse stale values: else refuse",
            )
            return None
        return AsOf(column.name, as_of.value, None if max_age is None else max_age.micros, stale)

    def _null_when_stale(self, column: ast.Column, rule: AsOf, time: str) -> None:
        """Replace the column's value by one that is null where its age is over budget or
        negative (a value from the future). Overflow-free for every int64 pair:
        stale = as_of > time  or  (time >= INT64_MIN + max_age  and  as_of < time - max_age)."""
        assert rule.max_age is not None
        info, value, span = self.inputs[column.name]
        e = Emitter(self.builder, column.span)
        now = e.to_int(self.inputs[time][1].node)
        as_of = e.to_int(self.inputs[rule.as_of][1].node)
        budget = rule.max_age
        future = e.binary("gt", as_of, now)
        over = e.and_(
            e.binary("ge", now, e.i(INT64_MIN + budget)),
            e.binary("lt", as_of, e.sub(now, e.i(budget))),
        )
        stale = e.or_(future, over)
        if value.dtype is DType.FLOAT:
            nulled = Value(e.where(stale, e.f(math.nan), value.node), None, True)
        else:
            assert value.mask is not None
            nulled = Value(value.node, e.or_(value.mask, stale), True)
        self.inputs[column.name] = (info, nulled, span)

    # ------------------------------------------------------------------ event sources
    def _declare_sources(self) -> None:
        """`events NAME by KEY lag L { ... }`: names, key, event time and columns checked."""
        for source in self.spec.sources:
            if source.name in self.sources or source.name in self.inputs:
                what = "an event source" if source.name in self.sources else "an input column"
                self.sink.error(
                    f"'{source.name}' is already {what}", source.name_span, "choose another name"
                )
                continue
            if source.name in reg.CONSTANTS:
                self.sink.error(
                    f"'{source.name}' is a built-in constant", source.name_span, "rename the source"
                )
                continue
            self._check_encoding_names(source)
            key_ok = self._source_key(source)
            columns: dict[str, tuple[InputColumn, Span]] = {}
            for column in source.columns:
                if column.name == source.key:
                    self.sink.error(
                        f"'{column.name}' is the key of '{source.name}'; the events block does not "
                        "declare it",
                        column.span,
                        f"remove this line: every event of a row belongs to the row's entity "
                        f"(the event table has a '{source.key}' column typed as the input column)",
                    )
                    continue
                if column.name == "offsets":
                    self.sink.error(
                        f"event column 'offsets' of '{source.name}' would take the name of the "
                        f"request's offsets input '{source.name}.offsets'",
                        column.span,
                        "rename the column (backticks and the event table's header alike)",
                    )
                    continue
                if column.name in columns:
                    self.sink.error(
                        f"event column '{column.name}' of '{source.name}' is declared twice",
                        column.span,
                        f"first declared on line {columns[column.name][1].line}",
                    )
                    continue
                if column.options:
                    self.sink.error(
                        f"event column '{column.name}' has a freshness option",
                        column.options[0].span,
                        "as_of / max_age / else belong to input columns; a window's freshness "
                        "is its `lag`",
                    )
                columns[column.name] = (
                    InputColumn(column.name, DType(column.type_name), column.nullable),
                    column.span,
                )
            time = self._event_time(source, columns)
            if source.lag_micros >= window_ops.MAX_SPAN:
                self.sink.error(
                    f"lag {source.lag} is longer than a window can reach back",
                    source.span,
                    "write a lag below 100,000 days",
                )
            if time is None or not key_ok:
                continue
            ir = EventSource(
                source.name,
                source.key,
                time,
                tuple(column for column, _ in columns.values()),
                source.lag_micros,
            )
            values: dict[str, Value] = {}
            for info, span in columns.values():
                name = ir.column_name(info.name)
                node = self.builder.node(
                    "input", (), _row(info.dtype), {"name": name, "role": "value"}, span
                )
                mask = None
                if info.nullable and info.dtype is not DType.FLOAT:
                    mask = self.builder.node(
                        "input", (), _row(DType.BOOL), {"name": name, "role": "mask"}, span
                    )
                values[info.name] = Value(node, mask, info.nullable)
            self.sources[source.name] = (ir, values)

    def _check_encoding_names(self, source: ast.EventSource) -> None:
        """No input column may be called `source.anything`: those names are the source's request
        inputs (`source.offsets`, `source.column`) and its windows' backfilled columns."""
        for column in self.spec.columns:
            if column.name.startswith(source.name + "."):
                self.sink.error(
                    f"input column '{column.name}' starts with '{source.name}.', the prefix of "
                    f"event source '{source.name}''s request inputs and windows",
                    column.span,
                    "rename the column or the event source",
                )

    def _source_key(self, source: ast.EventSource) -> bool:
        key = self.inputs.get(source.key)
        if key is None:
            close = difflib.get_close_matches(source.key, list(self.inputs), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "the key is an input column"
            self.sink.error(
                f"event source '{source.name}' is keyed by '{source.key}', which is not an input "
                "column",
                source.key_span,
                hint,
            )
            return False
        info = key[0]
        if info.dtype not in (DType.STRING, DType.INT) or info.nullable:
            self.sink.error(
                f"the key '{source.key}' of '{source.name}' is a "
                f"{type_text(info.dtype, info.nullable)}; an entity key is a non-nullable string "
                "or int",
                source.key_span,
                f"declare it `{source.key}: string` or `{source.key}: int`",
            )
            return False
        return True

    def _event_time(
        self, source: ast.EventSource, columns: dict[str, tuple[InputColumn, Span]]
    ) -> str | None:
        if not source.time_decls:
            self.sink.error(
                f"event source '{source.name}' does not say which column is the event time",
                source.name_span,
                "add a line `time COLUMN` naming its timestamp column",
            )
            return None
        for extra in source.time_decls[1:]:
            self.sink.error(f"'{source.name}' declares its event time twice", extra.span)
        decl = source.time_decls[0]
        column = columns.get(decl.column)
        if column is None:
            self.sink.error(
                f"the event time '{decl.column}' is not a column of '{source.name}'",
                decl.span,
                f"declare it in the block: {decl.column}: timestamp",
            )
            return None
        info = column[0]
        if info.dtype is not DType.TIMESTAMP or info.nullable:
            self.sink.error(
                f"the event time '{decl.column}' is a {type_text(info.dtype, info.nullable)}, "
                "not a non-nullable timestamp",
                decl.span,
                f"declare it `{decl.column}: timestamp`",
            )
            return None
        return decl.column

    def _declare_statements(self) -> None:
        for statement in self.spec.statements:
            name = statement.name
            if name in self.inputs or name in self.sources:
                what = "an input column" if name in self.inputs else "an event source"
                self.sink.error(
                    f"'{name}' is already {what}",
                    statement.name_span,
                    "choose another name for the binding",
                )
            elif name in self.definitions:
                first = self.definitions[name].statement
                self.sink.error(
                    f"'{name}' is defined twice",
                    statement.name_span,
                    f"first defined on line {first.name_span.line}",
                )
            elif name in reg.CONSTANTS:
                self.sink.error(
                    f"'{name}' is a built-in constant", statement.name_span, "choose another name"
                )
            else:
                self.definitions[name] = _Definition(statement)

    def _dependency_order(self) -> list[str]:
        """Definitions in post-order of their references (an iterative depth-first search)."""
        order: list[str] = []
        state: dict[str, int] = {}  # 1 = being visited, 2 = done
        for root in self.definitions:
            stack = [(root, False)]
            while stack:
                name, finished = stack.pop()
                if finished:
                    state[name] = 2
                    order.append(name)
                    continue
                if state.get(name):
                    continue  # done, or a cycle that _resolve reports with its path
                state[name] = 1
                stack.append((name, True))
                used = _names_used(self.definitions[name].statement.expr)
                stack.extend((u, False) for u in reversed(used) if u in self.definitions)
        return order

    def _resolve(self, name: str, use: Span) -> Value | None:
        definition = self.definitions[name]
        if definition.done:
            return definition.value
        if name in self.resolving:
            cycle = " -> ".join([*self.resolving[self.resolving.index(name) :], name])
            self.sink.error(
                f"'{name}' depends on itself: {cycle}",
                use,
                "break the cycle: a definition cannot use itself",
            )
            return None
        self.resolving.append(name)
        try:
            definition.value = self._expr(definition.statement.expr)
        except _Abort:
            definition.value = None
        finally:
            self.resolving.pop()
        definition.done = True
        return definition.value

    def _feature(self, statement: ast.Statement, value: Value) -> Feature | None:
        span = statement.name_span
        if value.null_literal:
            self.sink.error(f"feature '{statement.name}' is always null", span, "give it a value")
            return None
        if value.shape is Shape.LIST:
            self.sink.error(
                f"feature '{statement.name}' is a list",
                span,
                "use it in bucketize, lookup or one_hot",
            )
            return None
        if value.dtype in (DType.STRING, DType.TIMESTAMP):
            hint = (
                "encode it: lookup(x, vocab(x)), one_hot(x, vocab(x)) or hash_bucket(x, n)"
                if value.dtype is DType.STRING
                else "derive a number: days_between(t0, t), hour(t), ..."
            )
            self.sink.error(
                f"feature '{statement.name}' is a {value.dtype}; models need numbers", span, hint
            )
            return None
        if value.nullable:
            self.sink.error(
                f"feature '{statement.name}' may be null ({type_text(value.dtype, True)}); a model needs a value in every row",
                span,
                f"fill it: feature {statement.name} = fill_null(..., 0), or add is_null(...) as its own feature",
            )
            return None
        if value.shape is Shape.SCALAR and value.width != 1:
            self.sink.error(
                f"feature '{statement.name}' is a one_hot of a constant",
                span,
                "one_hot needs a per-row value",
            )
            return None
        e = Emitter(self.builder, statement.span)
        node = value.node
        if node.shape is Shape.SCALAR:
            node = e.broadcast(node, self._any_row())
        node = e.to_float(node)
        used = sorted({n.attr("name") for n in walk([node]) if n.op == "input"})
        # A window's derived column stands for its source's key and the prediction time.
        derived = {w.column: w for w in self.windows.values()}
        for name in [n for n in used if n in derived]:
            source = self.sources[derived[name].source][0]
            used += [source.key, self.freshness.time] if self.freshness else [source.key]
        used = sorted({n for n in used if n in self.inputs})
        nullable_used = tuple(n for n in used if self.inputs[n][0].nullable)
        return Feature(
            statement.name,
            node,
            value.dtype,
            column_names(statement.name, node),
            tuple(used),
            nullable_used,
            span,
        )

    def _any_row(self) -> Node:
        first = next(iter(self.inputs.values()))
        return first[1].node

    # ------------------------------------------------------------------ expressions
    def _error(self, message: str, span: Span, hint: str = "") -> _Abort:
        self.sink.error(message, span, hint)
        return _Abort()

    def _expr(self, expr: ast.Expr) -> Value:
        method = getattr(self, f"_expr_{type(expr).__name__.lower()}")
        result: Value = method(expr)
        return result

    def _expr_number(self, expr: ast.Number) -> Value:
        value = self._number(expr, negative=False)
        dtype = DType.INT if isinstance(value, int) else DType.FLOAT
        return Value(self.builder.const(dtype, value, expr.span))

    def _number(self, expr: ast.Number, negative: bool) -> int | float:
        """The value of a number literal (negated when written with '-'), range-checked."""
        shown = expr.text if len(expr.text) <= 24 else expr.text[:20] + "..."
        if expr.is_int:
            digits = expr.text.lstrip("0") or "0"
            # Decided on the text: int() of a huge digit string is slow or refused.
            magnitude = int(digits) if len(digits) <= 20 else 2**64
            value = -magnitude if negative else magnitude
            if not INT64_MIN <= value <= INT64_MAX:
                sign = "-" if negative else ""
                raise self._error(
                    f"integer {sign}{shown} does not fit in int64",
                    expr.span,
                    "int literals range from -9223372036854775808 to 9223372036854775807; "
                    "write a float such as 1e19 for larger numbers",
                )
            return value
        number = float(expr.text)
        if math.isinf(number):
            raise self._error(
                f"number {shown} is too large for a float (above 1.8e308)",
                expr.span,
                "write inf for infinity",
            )
        if number == 0.0 and _has_nonzero_digit(expr.text):
            raise self._error(
                f"number {shown} is too small for a float (below 4.9e-324): it would be 0",
                expr.span,
                "write 0 if zero is meant",
            )
        return -number if negative else number

    def _expr_string(self, expr: ast.String) -> Value:
        return Value(self.builder.const(DType.STRING, expr.value, expr.span))

    def _expr_bool(self, expr: ast.Bool) -> Value:
        return Value(self.builder.const(DType.BOOL, expr.value, expr.span))

    def _expr_null(self, expr: ast.Null) -> Value:
        return Value(
            self.builder.const(DType.FLOAT, math.nan, expr.span), None, True, null_literal=True
        )

    def _expr_name(self, expr: ast.Name) -> Value:
        if expr.id in self.sources:
            raise self._error(
                f"'{expr.id}' is an event source, not a value",
                expr.span,
                f"aggregate it over a window: window_count({expr.id}, 7d), "
                f"window_sum({expr.id}.COLUMN, 30d), ...",
            )
        if self.event_scope is not None and expr.id not in reg.CONSTANTS:
            raise self._error(
                f"a window filter can only use columns of '{self.event_scope}' and literals",
                expr.span,
                f"write the condition over event columns, e.g. {self.event_scope}.COLUMN > 0",
            )
        if expr.id in self.inputs:
            return self.inputs[expr.id][1]
        if expr.id in self.definitions:
            value = self._resolve(expr.id, expr.span)
            if value is None:
                raise _Abort()
            return value
        if expr.id in reg.CONSTANTS:
            return Value(self.builder.const(DType.FLOAT, reg.CONSTANTS[expr.id], expr.span))
        known = [*self.inputs, *self.definitions, *reg.CONSTANTS]
        close = difflib.get_close_matches(expr.id, known, n=1)
        hint = (
            f"did you mean '{close[0]}'?" if close else "declare it in the input block or with let"
        )
        if expr.id in reg.FUNCTIONS:
            hint = f"'{expr.id}' is a function: call it, {expr.id}(...)"
        raise self._error(f"unknown name '{expr.id}'", expr.span, hint)

    def _expr_member(self, expr: ast.Member) -> Value:
        entry = self.sources.get(expr.source)
        if entry is None:
            known = list(self.sources)
            close = difflib.get_close_matches(expr.source, known, n=1)
            hint = (
                f"did you mean '{close[0]}'?" if close else "declare it: events NAME by KEY { ... }"
            )
            raise self._error(f"unknown event source '{expr.source}'", expr.span, hint)
        values = entry[1]
        value = values.get(expr.column)
        if value is None:
            close = difflib.get_close_matches(expr.column, list(values), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "declare it in the events block"
            if expr.column == entry[0].key:
                hint = (
                    f"every event of a row belongs to the row's entity ('{entry[0].key}'): a "
                    "filter on the key keeps all of a row's events or none"
                )
            raise self._error(
                f"event source '{expr.source}' has no column '{expr.column}'", expr.span, hint
            )
        if self.event_scope != expr.source:
            raise self._error(
                f"the event column {format_expr(expr)} is one value per event, not per row",
                expr.span,
                f"aggregate it over a window, e.g. window_sum({format_expr(expr)}, 7d)"
                if self.event_scope is None
                else f"a filter of '{self.event_scope}' can only use its own columns",
            )
        return value

    def _expr_duration(self, expr: ast.Duration) -> Value:
        raise self._error(
            f"a duration ({expr.text}) is only allowed as the length of a window",
            expr.span,
            "write it as a window aggregate's second argument: window_count(events, 7d)",
        )

    def _expr_listexpr(self, expr: ast.ListExpr) -> Value:
        values = [self._literal(item) for item in expr.items]
        kinds = {type(v) for v in values}
        if kinds <= {int, float} and kinds:
            dtype = DType.FLOAT if float in kinds else DType.INT
        elif kinds == {str}:
            dtype = DType.STRING
        elif not kinds:
            raise self._error("empty list", expr.span, "write at least one item")
        else:
            raise self._error("list items must all be numbers or all be strings", expr.span)
        if len(set(values)) != len(values):
            raise self._error("list has duplicate items", expr.span, "remove the repeated values")
        return Value(self.builder.list_const(dtype, values, expr.span))

    def _literal(self, expr: ast.Expr) -> Any:
        """The Python value of a list item: a number (maybe negated), inf, nan or a string."""
        if isinstance(expr, ast.Number):
            return self._number(expr, negative=False)
        if isinstance(expr, ast.Unary) and expr.op == "-" and isinstance(expr.operand, ast.Number):
            return self._number(expr.operand, negative=True)
        if isinstance(expr, ast.Unary) and expr.op == "-" and _is_name(expr.operand, "inf"):
            return -math.inf
        if isinstance(expr, ast.String):
            return expr.value
        if isinstance(expr, ast.Name) and expr.id in ("inf", "nan"):
            return reg.CONSTANTS[expr.id]
        raise self._error(
            "list items must be literal numbers or strings",
            _span_of(expr),
            'lists are constants: write [1, 2.5, 10] or ["a", "b"]',
        )

    def _expr_unary(self, expr: ast.Unary) -> Value:
        if expr.op == "-" and isinstance(expr.operand, ast.Number):
            # Folded here so that -9223372036854775808 is a valid int64 literal.
            literal = self._number(expr.operand, negative=True)
            dtype = DType.INT if isinstance(literal, int) else DType.FLOAT
            return Value(self.builder.const(dtype, literal, expr.span))
        op = reg.OPERATOR_OPS[(expr.op, 1)]
        return self._apply(op, [(expr.operand, self._expr(expr.operand))], expr.span)

    def _expr_binary(self, expr: ast.Binary) -> Value:
        op = reg.OPERATOR_OPS[(expr.op, 2)]
        left = self._expr(expr.left)
        right = self._expr(expr.right)
        return self._apply(op, [(expr.left, left), (expr.right, right)], expr.span)

    def _expr_ifexpr(self, expr: ast.IfExpr) -> Value:
        op = reg.FUNCTIONS["if"][0]
        parts = [expr.condition, expr.then, expr.otherwise]
        values = [(p, self._expr(p)) for p in parts]
        return self._apply(op, values, expr.span)

    def _expr_call(self, expr: ast.Call) -> Value:
        aggregate = window_ops.BY_NAME.get(expr.func)
        if aggregate is not None:
            return self._window(aggregate, expr)
        total = len(expr.args) + len(expr.keywords)
        op = reg.find_op(expr.func, total)
        fits = op is not None and (op.analyzer or any(p.per_row for p in op.params))
        if fits and self.event_scope is not None:
            raise self._error(
                f"{expr.func}() is fitted on training rows; a window filter runs per event",
                expr.func_span,
                "compare event columns with literals",
            )
        if op is None or expr.func == "if" or op.operator:
            raise self._error(
                f"unknown function '{expr.func}'", expr.func_span, self._function_hint(expr.func)
            )
        bound = self._bind(op, expr)
        checked = [(arg, self._expr(arg)) for _, arg in bound]
        return self._apply(op, checked, expr.span, [param for param, _ in bound])

    # ------------------------------------------------------------------ windows
    def _window(self, aggregate: window_ops.WindowAggregate, expr: ast.Call) -> Value:
        """A window aggregate call: checked, recorded as a `Window`, and read by the row IR as
        its derived input column (with a null mask when it may be empty and is not a float)."""
        name = aggregate.name
        signature = f"{name}({'source or ' if aggregate.counts_events else ''}source.column, "
        signature += "length, where=condition)"
        if self.event_scope is not None:
            raise self._error("a window aggregate cannot be nested in a window filter", expr.span)
        arity = 3 if aggregate.ranked else 2
        if aggregate.ranked:
            signature = f"{name}(source.column, n, length, where=condition)"
        if len(expr.args) == arity - 1 and not any(isinstance(a, ast.Duration) for a in expr.args):
            example = aggregate.example.replace("purchases", next(iter(self.sources), "events"))
            raise self._error(
                f"{name}() has no window length: every window must be bounded in time",
                expr.span,
                f"give its length as the last argument, e.g. {example}",
            )
        if len(expr.args) != arity:
            raise self._error(
                f"{name}() takes {arity} arguments, got {len(expr.args)}",
                expr.span,
                f"signature: {signature}",
            )
        rank = self._window_rank(expr.args[1]) if aggregate.ranked else 0
        where_expr: ast.Expr | None = None
        for keyword in expr.keywords:
            if keyword.name != "where" or where_expr is not None:
                raise self._error(
                    f"{name}() has no parameter '{keyword.name}'"
                    if keyword.name != "where"
                    else "parameter 'where' is given twice",
                    keyword.span,
                    f"signature: {signature}",
                )
            where_expr = keyword.value
        target, length_expr = expr.args[0], expr.args[-1]
        source, value_column = self._window_target(aggregate, target)
        if not isinstance(length_expr, ast.Duration):
            raise self._error(
                f"the length of {name}() must be a duration such as 7d, 12h or 30m",
                _span_of(length_expr),
                "every window has a time bound: write the length as an integer and a unit "
                "(us, ms, s, m, h, d)",
            )
        length = length_expr.micros
        if length <= 0 or length + source.lag >= window_ops.MAX_SPAN:
            lag = f" plus the lag of '{source.name}' ({human_duration(source.lag)})"
            raise self._error(
                f"a window of {length_expr.text}{lag if source.lag else ''} cannot be computed",
                length_expr.span,
                "write a positive length below 100,000 days, lag included",
            )
        if self.freshness is None:
            raise self._error(
                f"{name}() ends at each row's prediction time, and the spec declares none",
                expr.func_span,
                "name the prediction-time column in the input block: time event_ts",
            )
        where = self._window_filter(source, where_expr) if where_expr is not None else None
        value_dtype = value_column.dtype if value_column is not None else None
        dtype = aggregate.result_dtype(value_dtype)
        text = format_expr(expr)
        known = next((w for w in self.windows.values() if w.text == text), None)
        window = Window(
            column=known.column
            if known
            else self._window_column(source, aggregate, value_column, length_expr, where, rank),
            text=text,
            source=source.name,
            kind=aggregate.kind,
            value=value_column.name if value_column is not None else None,
            value_dtype=value_dtype,
            dtype=dtype,
            nullable=aggregate.nullable,
            length=length,
            lag=source.lag,
            where=where,
            rank=rank,
        )
        self.windows.setdefault(window.column, window)
        node = self.builder.node(
            "input", (), _row(dtype), {"name": window.column, "role": "value"}, expr.span
        )
        mask = None
        if window.input.mask_name is not None:
            mask = self.builder.node(
                "input", (), _row(DType.BOOL), {"name": window.column, "role": "mask"}, expr.span
            )
        return Value(node, mask, window.nullable)

    def _window_rank(self, expr: ast.Expr) -> int:
        """n of window_nth_last: an integer literal from 1 to MAX_RANK."""
        if not isinstance(expr, ast.Number) or not expr.is_int:
            raise self._error(
                "n of window_nth_last() must be an integer literal",
                _span_of(expr),
                "write e.g. window_nth_last(purchases.amount, 2, 30d) for the second latest",
            )
        rank = int(expr.text)
        if not 1 <= rank <= window_ops.MAX_RANK:
            raise self._error(
                f"n of window_nth_last() is {rank}; it must be 1 to {window_ops.MAX_RANK:,}",
                expr.span,
                "n = 1 is the latest value (window_last)",
            )
        return rank

    def _window_column(
        self,
        source: EventSource,
        aggregate: window_ops.WindowAggregate,
        value: InputColumn | None,
        length: ast.Duration,
        where: Node | None,
        rank: int,
    ) -> str:
        """The derived column's name: `source.kind[.value].length[.whereN]`, made distinct from
        every column and event column name."""
        kind = aggregate.kind + (str(rank) if rank else "")  # purchases.nth_last2.amount.30d
        parts = [source.name, kind, *([value.name] if value else []), length.text]
        if where is not None:
            filtered = sum(1 for w in self.windows.values() if w.source == source.name and w.where)
            parts.append(f"where{filtered + 1}")
        name = ".".join(parts)
        taken = {*self.inputs, *(w.column for w in self.windows.values())}
        taken |= {src.column_name(c.name) for src, _ in self.sources.values() for c in src.columns}
        candidate, number = name, 1
        while candidate in taken:
            number += 1
            candidate = f"{name}.{number}"
        return candidate

    def _window_target(
        self, aggregate: window_ops.WindowAggregate, target: ast.Expr
    ) -> tuple[EventSource, InputColumn | None]:
        """The source and the aggregated column (None: the events themselves)."""
        if isinstance(target, ast.Name) and target.id in self.sources:
            if not aggregate.counts_events:
                raise self._error(
                    f"{aggregate.name}() aggregates a column, not the events",
                    target.span,
                    f"write {aggregate.name}({target.id}.COLUMN, ...)",
                )
            return self.sources[target.id][0], None
        declared = {source.name for source in self.spec.sources}
        mentioned = target.source if isinstance(target, ast.Member) else getattr(target, "id", "")
        if mentioned in declared and mentioned not in self.sources:
            raise _Abort()  # the source's own declaration has an error, reported there
        if isinstance(target, ast.Name) and target.id not in self.inputs and self.sources:
            close = difflib.get_close_matches(target.id, list(self.sources), n=1)
            if close:
                raise self._error(
                    f"unknown event source '{target.id}'",
                    target.span,
                    f"did you mean '{close[0]}'?",
                )
        if not isinstance(target, ast.Member):
            first = next(iter(self.sources), "purchases")
            raise self._error(
                f"the first argument of {aggregate.name}() must be an event column "
                "(source.column)" + (" or an event source" if aggregate.counts_events else ""),
                _span_of(target),
                f"e.g. {aggregate.example.replace('purchases', first)}",
            )
        self.event_scope = target.source
        try:
            self._expr_member(target)
        finally:
            self.event_scope = None
        source = self.sources[target.source][0]
        column = next(c for c in source.columns if c.name == target.column)
        if column.dtype not in aggregate.accepts:
            wanted = " or ".join(sorted(str(d) for d in aggregate.accepts))
            raise self._error(
                f"{aggregate.name}() needs {wanted} values; {format_expr(target)} is a "
                f"{type_text(column.dtype, column.nullable)}",
                target.span,
                "window_count and window_first/window_last take any column",
            )
        return source, column

    def _window_filter(self, source: EventSource, where_expr: ast.Expr) -> Node:
        """The `where =` condition as a bool IR node over the source's event inputs, with a null
        condition counting as false."""
        self.event_scope = source.name
        try:
            value = self._expr(where_expr)
        finally:
            self.event_scope = None
        if not any(n.op == "input" for n in walk([value.node])):
            raise self._error(
                "a window filter must use an event column",
                _span_of(where_expr),
                "a constant condition keeps every event or none: drop it",
            )
        if value.dtype is not DType.BOOL or value.shape is not Shape.ROW:
            raise self._error(
                f"a window filter must be a condition over {source.name}'s columns, not "
                f"{type_text(value.dtype, value.nullable, value.shape)}",
                _span_of(where_expr),
                f"e.g. where={source.name}.amount > 100.0",
            )
        e = Emitter(self.builder, _span_of(where_expr))
        if value.nullable:
            return e.and_(e.not_(null_mask(e, value)), value.node)
        return value.node

    def _function_hint(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(reg.FUNCTIONS), n=1)
        if close:
            return f"did you mean '{close[0]}'?"
        if name in self.inputs or name in self.definitions:
            return f"'{name}' is a value, not a function"
        return "see docs/language.md for the functions"

    def _bind(self, op: Op, expr: ast.Call) -> list[tuple[Param, ast.Expr]]:
        """The given arguments with their parameters, in parameter order; an optional parameter
        left out is skipped (a later one may still be given by keyword)."""
        params = list(op.params)
        if op.variadic:
            params += [params[-1]] * max(0, len(expr.args) - len(params))
        if len(expr.args) > len(params):
            raise self._error(
                f"{op.name}() takes at most {len(params)} argument{'s' if len(params) != 1 else ''}, got {len(expr.args)}",
                _span_of(expr.args[len(params)]),
                f"signature: {op.signature}",
            )
        slots: list[ast.Expr | None] = [*expr.args, *([None] * (len(params) - len(expr.args)))]
        names = [p.name for p in params]
        for keyword in expr.keywords:
            if keyword.name not in names:
                raise self._error(
                    f"{op.name}() has no parameter '{keyword.name}'",
                    keyword.span,
                    f"signature: {op.signature}",
                )
            index = names.index(keyword.name)
            if slots[index] is not None:
                raise self._error(f"parameter '{keyword.name}' is given twice", keyword.span)
            slots[index] = keyword.value
        bound: list[tuple[Param, ast.Expr]] = []
        for param, slot in zip(params, slots, strict=True):
            if slot is not None:
                bound.append((param, slot))
            elif not param.optional:
                raise self._error(
                    f"{op.name}() is missing the argument '{param.name}'",
                    expr.span,
                    f"signature: {op.signature}",
                )
        return bound

    def _apply(
        self,
        op: Op,
        args: list[tuple[ast.Expr, Value]],
        span: Span,
        params: list[Param] | None = None,
    ) -> Value:
        if params is None:  # operators and if: every parameter, in order
            params = list(op.params)
            params += [params[-1]] * (len(args) - len(params))
        for (arg_expr, value), param in zip(args, params, strict=True):
            self._check_argument(op, param, arg_expr, value)
        values = [value for _, value in args]
        self._check_constants(op, args, params)
        for arg, param in zip(args, params, strict=True):
            if op.fits_on(param):
                self._check_fitted_on_rows(op, arg)
            if param.increasing:
                self._check_increasing(op, param, arg)
        e = Emitter(self.builder, span)
        try:
            result = _lower(op, e, values, params)
            if op.null_rule == NullRule.PROPAGATE:
                result = self._propagate(op, e, values, result)
        except LoweringError as problem:
            raise self._error(
                str(problem), _problem_span(problem, args, span), problem.hint
            ) from None
        self._assert_rule(op, values, result)
        return result

    def _check_argument(self, op: Op, param: Param, arg_expr: ast.Expr, value: Value) -> None:
        where = _span_of(arg_expr)
        label = _describe(op, param)
        if value.null_literal:
            if op.null_literal_ok:
                return
            raise self._error(
                f"null is not allowed as {label}",
                where,
                "null only fits fill_null, coalesce and if",
            )
        if param.literal and not _is_literal(arg_expr):
            raise self._error(
                f"{label} must be a literal", where, f"write a constant, e.g. {op.example}"
            )
        if param.is_list:
            if value.shape is not Shape.LIST:
                raise self._error(
                    f"{label} must be a list",
                    where,
                    "write a list [a, b, ...] or use quantiles(...) / vocab(...)",
                )
        elif value.shape is Shape.LIST:
            raise self._error(f"{label} cannot be a list", where)
        if value.width != 1 and value.shape is Shape.ROW:
            raise self._error(
                f"{label} is a multi-column one_hot value",
                where,
                "a one_hot must be a feature on its own",
            )
        if value.dtype not in param.accepts:
            wanted = " or ".join(sorted(str(d) for d in param.accepts))
            raise self._error(
                f"{label} must be {wanted}, not {type_text(value.dtype, value.nullable, value.shape)}",
                where,
                _conversion_hint(value.dtype, param.accepts),
            )
        if (
            param.literal
            and value.node.op == "const"
            and param.out_of_range(constant_value(value.node))
        ):
            raise self._error(
                f"{label} {_range_text(param)}, not {_source_text(self.source, where)}",
                where,
                param.hint or f"e.g. {op.example}",
            )
        if not param.row and value.shape is Shape.ROW:
            raise self._error(
                f"{label} must be a constant, not a per-row value", where, f"e.g. {op.example}"
            )
        if value.nullable and (op.null_rule == NullRule.REJECT or not param.null_ok):
            text = _source_text(self.source, where)
            rule = f"{_op_word(op)} has no rule for null" if op.null_rule == NullRule.REJECT else ""
            raise self._error(
                f"{label} may be null ({type_text(value.dtype, True)})"
                + (f", and {rule}" if rule else "; it must not be"),
                where,
                f"replace nulls first: fill_null({text}, ...), or test them with is_null({text})",
            )

    def _check_constants(
        self, op: Op, args: list[tuple[ast.Expr, Value]], params: list[Param]
    ) -> None:
        """The op's static traps (ConstantCheck): constant arguments that can only be a mistake."""
        by_name = {param.name: arg for param, arg in zip(params, args, strict=True)}
        for check in op.constant_checks:
            given = [by_name.get(name) for name in check.params]
            if any(arg is None or arg[1].node.op != "const" for arg in given):
                continue
            constants = [constant_value(arg[1].node) for arg in given if arg is not None]
            if check.bad(*constants):
                last = given[-1]
                assert last is not None
                raise self._error(check.message, _span_of(last[0]), check.hint)

    def _check_fitted_on_rows(self, op: Op, arg: tuple[ast.Expr, Value]) -> None:
        """A statistic summarises a column of the training data: a constant has none."""
        expr, value = arg
        if value.shape is not Shape.ROW:
            raise self._error(
                f"{op.name}() needs a per-row value to fit on, not a constant",
                _span_of(expr),
                "analyzers summarise a column of the training data"
                if op.analyzer
                else f"{op.name} is fitted on a column of the training data",
            )

    def _check_increasing(self, op: Op, param: Param, arg: tuple[ast.Expr, Value]) -> None:
        """A fitted list passed where items must increase comes from an analyzer that says so
        (quantiles; a vocabulary is in frequency order). List literals are checked by the
        lowering, which sees their values."""
        expr, value = arg
        node = value.node
        if node.op == "fitted" and node.attr("analyzer") not in reg.INCREASING_LISTS:
            raise self._error(
                f"{_describe(op, param)} must be strictly increasing; "
                f"{node.attr('analyzer')}() is not",
                _span_of(expr),
                "use a list literal [a, b, ...] or quantiles(x, n); a vocabulary is in "
                "frequency order",
            )

    def _propagate(self, op: Op, e: Emitter, values: list[Value], result: Value) -> Value:
        nullable = [v for v in values if v.nullable]
        if not nullable:
            return result
        if result.dtype is DType.FLOAT:
            masks = [v.mask for v in nullable if v.mask is not None]
            if not op.nan_propagating:
                masks += [e.isnan(v.node) for v in nullable if v.mask is None]
            node = result.node
            if masks:
                combined = masks[0]
                for mask in masks[1:]:
                    combined = e.or_(combined, mask)
                node = e.where(combined, e.f(math.nan), node)
            return Value(node, None, True)
        combined = null_mask(e, nullable[0])
        for value in nullable[1:]:
            combined = e.or_(combined, null_mask(e, value))
        return Value(result.node, combined, True)

    def _assert_rule(self, op: Op, values: list[Value], result: Value) -> None:
        expected = op.returns.dtype([v.dtype for v in values])
        if expected is not None and expected is not result.dtype:
            raise AssertionError(
                f"{op.name}: the registry says {expected}, lowering gave {result.dtype}"
            )


def _lower(op: Op, e: Emitter, values: list[Value], params: list[Param]) -> Value:
    """Call the op's lowering: positionally while the parameters come in order, then by
    keyword (after an optional parameter that was left out)."""
    positional: list[Value] = []
    keywords: dict[str, Value] = {}
    for index, (value, param) in enumerate(zip(values, params, strict=True)):
        in_order = index >= len(op.params) or op.params[index] is param
        if in_order and not keywords:
            positional.append(value)
        else:
            keywords[param.name] = value
    result: Value = op.lower(e, *positional, **keywords)
    return result


def _problem_span(problem: LoweringError, args: list[tuple[ast.Expr, Value]], span: Span) -> Span:
    """Where a lowering error points: the argument it names, else the whole call.

    Constants are interned, so a node's own span may be that of an equal literal elsewhere;
    the argument's expression has the position the user wrote."""
    if problem.span is None:
        return span
    for expr, value in args:
        if value.node.span == problem.span:
            return _span_of(expr)
    return problem.span


def _row(dtype: DType) -> Any:
    from featuredsl.compiler.types import Type

    return Type(dtype, Shape.ROW)


def _is_name(expr: ast.Expr, name: str) -> bool:
    return isinstance(expr, ast.Name) and expr.id == name


def _names_used(expr: ast.Expr) -> list[str]:
    """Every name an expression refers to, in source order, found without recursion."""
    names: list[str] = []
    stack: list[ast.Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            names.append(node.id)
        stack.extend(reversed(_children(node)))
    return names


def _subexpressions(expr: ast.Expr) -> list[ast.Expr]:
    """An expression and every expression inside it, without recursion."""
    out: list[ast.Expr] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(_children(node))
    return out


def _children(expr: ast.Expr) -> list[ast.Expr]:
    if isinstance(expr, ast.Unary):
        return [expr.operand]
    if isinstance(expr, ast.Binary):
        return [expr.left, expr.right]
    if isinstance(expr, ast.Call):
        return [*expr.args, *(k.value for k in expr.keywords)]
    if isinstance(expr, ast.ListExpr):
        return list(expr.items)
    if isinstance(expr, ast.IfExpr):
        return [expr.condition, expr.then, expr.otherwise]
    return []


def _range_text(param: Param) -> str:
    """'must be between 0 and 1' / 'must be at least 1', from the parameter's declared range."""
    assert param.range is not None
    low, high = param.range
    if high >= INT64_MAX:
        return f"must be at least {low:g}"
    return f"must be between {low:g} and {high:g}"


def _has_nonzero_digit(number_text: str) -> bool:
    """Whether the digits of a number literal (before any exponent) are not all zero."""
    mantissa = number_text.lower().split("e")[0]
    return any(c in "123456789" for c in mantissa)


def _is_literal(expr: ast.Expr) -> bool:
    if isinstance(expr, (ast.Number, ast.String, ast.Bool)):
        return True
    if isinstance(expr, ast.Unary) and expr.op == "-":
        return isinstance(expr.operand, ast.Number)
    return False


def _span_of(expr: ast.Expr) -> Span:
    span: Span = getattr(expr, "span", Span.unknown())
    return span


def _describe(op: Op, param: Param) -> str:
    if op.operator:
        return f"the operand of '{op.operator}'"
    if op.name == "if":
        return (
            "the condition of 'if'" if param.name == "condition" else f"the '{param.name}' branch"
        )
    return f"argument '{param.name}' of {op.name}()"


def _op_word(op: Op) -> str:
    return f"'{op.operator}'" if op.operator else f"{op.name}()"


def _conversion_hint(dtype: DType, accepts: frozenset[DType]) -> str:
    if DType.FLOAT in accepts and dtype is DType.BOOL:
        return "convert it: float(...)"
    if DType.BOOL in accepts and dtype.numeric:
        return "compare it, e.g. x > 0, or convert: bool(...)"
    if dtype is DType.STRING and DType.FLOAT in accepts:
        return "strings are not parsed; encode them with lookup(...) or hash_bucket(...)"
    if dtype is DType.TIMESTAMP:
        return "use a time function: hour(t), days_between(t0, t), ..."
    return ""


def _source_text(source: str, span: Span) -> str:
    lines = source.splitlines()
    if span.line < 1 or span.line > len(lines) or span.end_line != span.line:
        return "x"
    return lines[span.line - 1][span.column - 1 : span.end_column - 1] or "x"
