"""Categorical ops: bucketize, vocabulary lookup, one-hot, hashing and crosses."""

from __future__ import annotations

import itertools
import math

from featuredsl.compiler.builder import (
    Emitter,
    LoweringError,
    Value,
    as_float,
    literal,
)
from featuredsl.compiler.ir import Node, constant_value
from featuredsl.compiler.op import (
    CATEGORICAL,
    INT64_MAX,
    INT_ONLY,
    NUM,
    REJECT,
    Op,
    Param,
    Returns,
    X,
    param,
)
from featuredsl.compiler.types import DType, Shape


def hashed_text(e: Emitter, x: Value) -> Node:
    return x.node if x.dtype is DType.STRING else e.unary("to_string", x.node, DType.STRING)


def _vocab_node(vocab: Value, x: Value) -> Node:
    if vocab.shape is not Shape.LIST:
        raise LoweringError(
            "expected a vocabulary list", "pass vocab(column) or a list literal", vocab.node.span
        )
    if vocab.dtype is not x.dtype:
        raise LoweringError(
            f"vocabulary of {vocab.dtype} values used on a {x.dtype} value",
            "build the vocabulary from the same column",
            vocab.node.span,
        )
    return vocab.node


def lookup_index(
    e: Emitter, x: Value, vocab: Value, oov_buckets: int, default: int
) -> tuple[Node, Node]:
    """(index node, vocabulary node): index in vocab, else len + hash % oov_buckets, else default."""
    keys = _vocab_node(vocab, x)
    found = e.node("lookup", (x.node, keys), DType.INT)
    size = (
        e.node("list_size", (keys,), DType.INT)
        if keys.op == "fitted"
        else e.i(len(keys.attr("values")))
    )
    if oov_buckets == 0:
        fallback = e.i(default)
    elif oov_buckets == 1:
        fallback = size
    else:
        hashed = e.mod(e.unary("murmur3", hashed_text(e, x), DType.INT), e.i(oov_buckets))
        fallback = e.add(size, hashed)
    missing = e.eq(found, e.i(-1))
    return e.where(missing, fallback, found), keys


def lower_bucketize(e: Emitter, x: Value, boundaries: Value) -> Value:
    if boundaries.shape is not Shape.LIST or not boundaries.dtype.numeric:
        raise LoweringError(
            "bucketize needs a list of numbers",
            "e.g. [0, 10, 100] or quantiles(x, 10)",
            boundaries.node.span,
        )
    edges = boundaries.node  # a fitted list is one that increases (the checker saw to it)
    if edges.op == "list_const":
        values = [
            float(v) if boundaries.dtype is DType.INT else float.fromhex(v)
            for v in edges.attr("values")
        ]
        if any(math.isnan(v) for v in values) or any(b <= a for a, b in itertools.pairwise(values)):
            raise LoweringError(
                "bucket boundaries must be strictly increasing numbers",
                "sort them and remove duplicates",
                edges.span,
            )
        edges = e.b.list_const(DType.FLOAT, values, edges.span)
    return Value(e.node("bucketize", (as_float(e, x), edges), DType.INT))


def lower_lookup(
    e: Emitter,
    x: Value,
    vocab: Value,
    oov_buckets: Value | None = None,
    default: Value | None = None,
) -> Value:
    buckets = 1 if oov_buckets is None else int(literal(oov_buckets))
    fallback = -1 if default is None else int(literal(default))
    index, _ = lookup_index(e, x, vocab, buckets, fallback)
    return Value(index)


def lower_one_hot(e: Emitter, x: Value, vocab: Value, oov_buckets: Value | None = None) -> Value:
    buckets = 1 if oov_buckets is None else int(literal(oov_buckets))
    index, keys = lookup_index(e, x, vocab, buckets, -1)
    width = None if keys.op == "fitted" else len(keys.attr("values")) + buckets
    return Value(e.node("one_hot", (index, keys), DType.FLOAT, width, oov_buckets=buckets))


def lower_hash_bucket(e: Emitter, x: Value, n: Value) -> Value:
    buckets = int(literal(n))
    h = e.unary("murmur3", hashed_text(e, x), DType.INT)
    return Value(e.mod(h, e.i(buckets)))


def lower_cross(e: Emitter, a: Value, b: Value, n: Value) -> Value:
    buckets = int(literal(n))
    joined = e.binary(
        "concat",
        e.binary("concat", hashed_text(e, a), e.const(DType.STRING, "\x1f")),
        hashed_text(e, b),
    )
    return Value(e.mod(e.unary("murmur3", joined, DType.INT), e.i(buckets)))


def column_names(feature_name: str, node: Node) -> tuple[str, ...] | None:
    """The output column names of a feature whose value is `node`: the feature's own name, or for a
    one_hot one name per column, `name[value]` then `name[<oov>]` / `name[<oov:i>]` (None while the
    vocabulary is not fitted yet; fitting calls this again on the fitted node)."""
    if node.op != "one_hot":
        return (feature_name,)
    keys = node.args[1]
    if keys.op != "list_const":
        return None
    names = [f"{feature_name}[{value}]" for value in constant_value(keys)]
    buckets = node.attr("oov_buckets")
    if buckets == 1:
        names.append(f"{feature_name}[<oov>]")
    else:
        names.extend(f"{feature_name}[<oov:{i}>]" for i in range(buckets))
    return tuple(names)


MAX_ONE_HOT_OOV = 10_000
VOCAB = param("vocab", CATEGORICAL, is_list=True, row=False)


def _oov_buckets(most: int, hint: str = "") -> Param:
    return param(
        "oov_buckets",
        INT_ONLY,
        literal=True,
        optional=True,
        default="1",
        row=False,
        range=(0, most),
        typical=(0, 3),
        hint=hint,
    )


BUCKETS = param(
    "n",
    INT_ONLY,
    literal=True,
    row=False,
    range=(1, INT64_MAX),
    typical=(1, 1000),
    hint="pass n >= 1",
)

OPS: tuple[Op, ...] = (
    Op(
        "bucketize",
        "categorical",
        (X, param("boundaries", NUM, is_list=True, row=False, increasing=True)),
        Returns.INT,
        REJECT,
        lower_bucketize,
        "The number of boundaries <= x: bucket i holds boundaries[i-1] <= x < boundaries[i] (left edge "
        "included, as numpy.searchsorted(side='right')). Boundaries must be strictly increasing; fitted "
        "quantiles are de-duplicated. NaN goes to the last bucket, len(boundaries).",
        "bucketize(x, [0, 10, 100])",
    ),
    Op(
        "lookup",
        "categorical",
        (
            param("x", CATEGORICAL),
            VOCAB,
            _oov_buckets(INT64_MAX),
            param(
                "default",
                INT_ONLY,
                literal=True,
                optional=True,
                default="-1",
                row=False,
                typical=(-3, 3),
            ),
        ),
        Returns.INT,
        REJECT,
        lower_lookup,
        "Position of x in vocab (0-based). Values not in vocab: len(vocab) + hash_bucket(x, oov_buckets) "
        "when oov_buckets >= 1 (so len(vocab) with the default 1), else default.",
        "lookup(s, vocab(s))",
    ),
    Op(
        "one_hot",
        "categorical",
        (
            param("x", CATEGORICAL),
            VOCAB,
            _oov_buckets(MAX_ONE_HOT_OOV, "one_hot makes a column per bucket"),
        ),
        Returns.FLOAT,
        REJECT,
        lower_one_hot,
        "len(vocab) + oov_buckets columns of 0.0/1.0: column lookup(x, vocab, oov_buckets). Columns are named "
        "`feature[value]` and `feature[<oov>]` (`feature[<oov:i>]` for several OOV buckets). A one_hot must "
        'be a feature on its own. Nulls: x must be non-null; `one_hot(fill_null(plan, "none"), vocab(plan))` '
        "files the filled nulls under `<oov>` with unseen values (vocab skips nulls), while "
        '`one_hot(p, vocab(p))` with `let p = fill_null(plan, "none")` gives them their own column `feature[none]`.',
        'one_hot(s, ["DE", "FR", "US"])',
        multi_column=True,
    ),
    Op(
        "hash_bucket",
        "categorical",
        (param("x", CATEGORICAL), BUCKETS),
        Returns.INT,
        REJECT,
        lower_hash_bucket,
        "MurmurHash3_x86_32 (seed 0) of the UTF-8 bytes, as an unsigned 32-bit number, modulo n. Ints are "
        'hashed as their decimal text, so 42 and "42" share a bucket. Equals '
        "sklearn.utils.murmurhash3_32(text, positive=True) % n.",
        "hash_bucket(s, 1000)",
    ),
    Op(
        "cross",
        "categorical",
        (
            param("a", CATEGORICAL),
            param("b", CATEGORICAL),
            BUCKETS,
        ),
        Returns.INT,
        REJECT,
        lower_cross,
        'Feature cross: hash of text(a) + "\\x1f" + text(b), modulo n (same hash as hash_bucket).',
        "cross(s, n, 10000)",
        same_typed=False,
    ),
)
