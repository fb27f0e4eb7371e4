"""Differential fuzzing: random well-typed specs and adversarial data, numpy module vs ONNX graph.

The spec generator is driven by the op registry (`featuredsl.compiler.registry`): each op's parameters,
accepted dtypes, literal-only and list parameters, type rule and null rule come from there, and
`SIGNATURES`, enumerated from it, says which argument dtypes make an op return which dtype.
Specs are generated as *text*, so the parser, the checker and the formatter run on every case.
Null-safety is kept the way a user would keep it: every nullable value that reaches a parameter
that rejects nulls is wrapped in fill_null(...) (with a literal or a fitted statistic) or is_null.

A case is fitted on one random feed and both artifacts are compared on another with
`featuredsl.parity.compare`; any violation, crash or internal error raises. Hypothesis shrinks
a failure to a minimal spec and minimal rows; `save_regression` writes it as JSON for replay.

The jobs, one module each: `settings` (hypothesis profile and example budget), `signatures`
(every dtype combination of every registry op), `generator` (the spec generator: literal ranges,
static traps and null rules all read from the registry), `cases` (data and fuzz cases), `runner`
(one case: fit, build, compare at two optimization levels), `regressions` (failing cases as
JSON, replayed by the test suite)."""

from __future__ import annotations

from featuredsl.parity.fuzz.cases import (
    Feed,
    FuzzCase,
    element_strategy,
    feeds,
    float_values,
    fuzz_cases,
    int_values,
    string_values,
    timestamp_values,
    to_array,
)
from featuredsl.parity.fuzz.generator import (
    FEATURE_DTYPES,
    FOCUS_DTYPES,
    LITERAL_DTYPES,
    NUMERIC,
    Column,
    Draw,
    GeneratedSpec,
    Pools,
    SpecGenerator,
    Typed,
    input_columns,
    operand,
    portable_patterns,
    quote,
    result_nullable,
    specs,
    texts,
)
from featuredsl.parity.fuzz.regressions import (
    case_from_json,
    case_to_json,
    decode_feed,
    encode_feed,
    load_regression,
    save_regression,
)
from featuredsl.parity.fuzz.runner import (
    STEP_PRIMITIVES,
    GeneratorError,
    ParityViolation,
    Unfittable,
    amplifies_inexact_error,
    case_fails,
    onnx_session,
    run_case,
    run_session,
)
from featuredsl.parity.fuzz.settings import (
    DEFAULT_EXAMPLES,
    EXAMPLES_ENV,
    FUZZ_SETTINGS,
    fuzz_examples,
    is_final_example,
)
from featuredsl.parity.fuzz.signatures import (
    BUCKET_COUNTS,
    EXTRA_FLOATS,
    EXTRA_STRINGS,
    IDENTIFIER_EXTRAS,
    KEYWORDS,
    LEAP_DAYS,
    LIST_ANALYZERS,
    MICROS_PER_DAY,
    QUANTILE_LEVELS,
    RESERVED,
    SIGNATURES,
    Signature,
    enumerate_signatures,
    param_groups,
)

__all__ = [
    "BUCKET_COUNTS",
    "DEFAULT_EXAMPLES",
    "EXAMPLES_ENV",
    "EXTRA_FLOATS",
    "EXTRA_STRINGS",
    "FEATURE_DTYPES",
    "FOCUS_DTYPES",
    "FUZZ_SETTINGS",
    "IDENTIFIER_EXTRAS",
    "KEYWORDS",
    "LEAP_DAYS",
    "LIST_ANALYZERS",
    "LITERAL_DTYPES",
    "MICROS_PER_DAY",
    "NUMERIC",
    "QUANTILE_LEVELS",
    "RESERVED",
    "SIGNATURES",
    "STEP_PRIMITIVES",
    "Column",
    "Draw",
    "Feed",
    "FuzzCase",
    "GeneratedSpec",
    "GeneratorError",
    "ParityViolation",
    "Pools",
    "Signature",
    "SpecGenerator",
    "Typed",
    "Unfittable",
    "amplifies_inexact_error",
    "case_fails",
    "case_from_json",
    "case_to_json",
    "decode_feed",
    "element_strategy",
    "encode_feed",
    "enumerate_signatures",
    "feeds",
    "float_values",
    "fuzz_cases",
    "fuzz_examples",
    "input_columns",
    "int_values",
    "is_final_example",
    "load_regression",
    "onnx_session",
    "operand",
    "param_groups",
    "portable_patterns",
    "quote",
    "result_nullable",
    "run_case",
    "run_session",
    "save_regression",
    "specs",
    "string_values",
    "texts",
    "timestamp_values",
    "to_array",
]
