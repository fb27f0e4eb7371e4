"""Bundle a feature graph and a model graph into one ONNX model: raw named inputs in, model
outputs (and the features) out.

    raw inputs --[feature graph]--> features [N, F] float64 --[adapter]--> model inputs --> outputs

The adapter hands the features to the model either by name (the model has one input per feature
column, named like it) or by order (the model has one [N, F] input and the caller says so). Where
the model wants float32 the adapter casts once: every decision inside the feature graph is taken
in float64 and the model sees the features rounded once to float32, exactly what the numpy
module's `transform(columns, float32=True)` returns (docs/serving.md).

The model's node, edge and initializer names are prefixed with `model/` so nothing collides; its
graph outputs keep their names. The bundle also outputs `features` (float64), so a serving log of
the bundle can be replayed against the training module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.inliner
from onnx import TensorProto, helper, numpy_helper

from featuredsl import __version__
from featuredsl.artifact.contract import (
    KEY_BUNDLE,
    KEY_EVENTS,
    KEY_FEATURE_NAMES,
    KEY_FINGERPRINT,
    KEY_FRESHNESS,
    KEY_INPUTS,
    KEY_MODEL_OUTPUTS,
    KEY_MODEL_PRODUCER,
    KEY_MODEL_SHA256,
    KEY_SPEC,
    KEY_VERSION,
    METADATA_PREFIX,
)
from featuredsl.artifact.contract import OUTPUT as FEATURES
from featuredsl.compiler.libm import ROUTINE_DOMAIN
from featuredsl.errors import ArtifactError

MODEL_PREFIX = "model/"
ADAPTER_PREFIX = "bundle/"

DEFAULT_DOMAIN = ""
FLOAT_TYPES: dict[int, str] = {TensorProto.FLOAT: "float32", TensorProto.DOUBLE: "float64"}


@dataclass(frozen=True)
class FeatureGraph:
    """The serving graph of one fitted spec, with what a bundle must carry about it."""

    model: onnx.ModelProto
    fingerprint: str
    feature_names: tuple[str, ...]
    inputs: tuple[dict[str, Any], ...]  # {"name", "dtype", "nullable"} per raw input
    spec: str
    where: str  # for messages: the build directory or "the FeatureTransformer"


@dataclass(frozen=True)
class InputLink:
    """One model input and the feature columns it receives."""

    model_input: str
    columns: tuple[int, ...]
    elem_type: int  # TensorProto.FLOAT or DOUBLE
    rank: int  # 1: [N] (one column); 2: [N, len(columns)]

    @property
    def dtype(self) -> str:
        return FLOAT_TYPES[self.elem_type]


@dataclass(frozen=True)
class BundleReport:
    path: Path
    fingerprint: str
    feature_names: tuple[str, ...]
    by: str
    links: tuple[InputLink, ...]
    outputs: tuple[str, ...]  # the model's outputs (the bundle also has `features`)
    model_sha256: str
    opsets: tuple[tuple[str, int], ...]
    size: int


# ----------------------------------------------------------------------------- reading


def feature_graph_from_dir(build_dir: str | Path) -> FeatureGraph:
    """The feature graph of a build directory; `load` checks that all fingerprints agree."""
    from featuredsl.artifact.load import load

    artifacts = load(build_dir)
    model = _load_onnx(artifacts.onnx_path)
    inputs = tuple(
        {"name": i["name"], "dtype": i["dtype"], "nullable": i["nullable"]}
        for i in artifacts.manifest["inputs"]
    )
    return FeatureGraph(
        model,
        artifacts.fingerprint,
        artifacts.feature_names,
        inputs,
        str(artifacts.manifest.get("spec", "")),
        str(build_dir),
    )


def feature_graph_from_fitted(fitted: Any, where: str = "the fitted spec") -> FeatureGraph:
    """The feature graph of a FittedSpec (float64 output)."""
    inputs = tuple(
        {"name": c.name, "dtype": str(c.dtype), "nullable": c.nullable}
        for c in fitted.program.inputs
    )
    return FeatureGraph(
        fitted.onnx_model(),
        fitted.fingerprint,
        tuple(fitted.feature_names),
        inputs,
        fitted.program.name,
        where,
    )


def read_model(path: str | Path) -> tuple[onnx.ModelProto, str]:
    """A model file and the sha256 of its bytes."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise ArtifactError(f"{p}: cannot read the model ({err.strerror})") from None
    return _parse_model(data, str(p)), hashlib.sha256(data).hexdigest()


def _parse_model(data: bytes, where: str) -> onnx.ModelProto:
    try:
        return onnx.load_from_string(data)
    except Exception as err:  # protobuf's DecodeError and friends: say what the file is not
        raise ArtifactError(f"{where}: not a readable ONNX model ({err})") from None


def _load_onnx(path: Path) -> onnx.ModelProto:
    try:
        return _parse_model(path.read_bytes(), str(path))
    except OSError as err:
        raise ArtifactError(f"{path}: cannot read ({err.strerror})") from None


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


# ----------------------------------------------------------------------------- input matching


def _real_inputs(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    # Models of IR < 4 list their initializers among the inputs too.
    initializers = {t.name for t in graph.initializer}
    return [i for i in graph.input if i.name not in initializers]


def _shape(info: onnx.ValueInfoProto) -> list[int | None] | None:
    tensor = info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]


def _show_shape(shape: list[int | None] | None) -> str:
    if shape is None:
        return "an unknown shape"
    return "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"


def _elem_type(info: onnx.ValueInfoProto, where: str) -> int:
    if info.type.WhichOneof("value") != "tensor_type":
        raise ArtifactError(f"{where}: model input {info.name!r} is not a tensor")
    elem = info.type.tensor_type.elem_type
    if elem not in FLOAT_TYPES:
        name = TensorProto.DataType.Name(elem).lower()
        raise ArtifactError(
            f"{where}: model input {info.name!r} is {name}; features are float64 and can be "
            "passed as float64 or float32 only"
        )
    return elem


def _names_list(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def plan_inputs(
    model: onnx.ModelProto, feature_names: Sequence[str], by_order: bool, where: str
) -> tuple[InputLink, ...]:
    """Which feature columns feed which model input; ArtifactError naming any mismatch."""
    inputs = _real_inputs(model.graph)
    if by_order:
        return (_by_order(inputs, feature_names, where),)
    return _by_name(inputs, feature_names, where)


def _by_order(
    inputs: list[onnx.ValueInfoProto], feature_names: Sequence[str], where: str
) -> InputLink:
    width = len(feature_names)
    if len(inputs) != 1:
        raise ArtifactError(
            f"{where}: matching by order needs a model with one input tensor of width {width}; "
            f"it has {len(inputs)}: {_names_list([i.name for i in inputs])}"
        )
    info = inputs[0]
    elem = _elem_type(info, where)
    shape = _shape(info)
    if shape is None or len(shape) != 2:
        raise ArtifactError(
            f"{where}: model input {info.name!r} has {_show_shape(shape)}; matching by order "
            f"needs [N, {width}]"
        )
    if shape[1] is None:
        raise ArtifactError(
            f"{where}: model input {info.name!r} has no fixed width ({_show_shape(shape)}), so "
            f"it cannot be checked against the {width} features; export it with [N, {width}]"
        )
    if shape[1] != width:
        raise ArtifactError(
            f"{where}: model input {info.name!r} takes {shape[1]} features; the build has "
            f"{width} ({_names_list(list(feature_names))})"
        )
    return InputLink(info.name, tuple(range(width)), elem, 2)


def _by_name(
    inputs: list[onnx.ValueInfoProto], feature_names: Sequence[str], where: str
) -> tuple[InputLink, ...]:
    position = {name: j for j, name in enumerate(feature_names)}
    names = [i.name for i in inputs]
    unknown = [n for n in names if n not in position]
    unfed = [n for n in feature_names if n not in set(names)]
    if unknown or unfed:
        raise ArtifactError(_name_mismatch(inputs, feature_names, unknown, unfed, where))
    return tuple(_named_link(info, position[info.name], where) for info in inputs)


def _name_mismatch(
    inputs: list[onnx.ValueInfoProto],
    feature_names: Sequence[str],
    unknown: list[str],
    unfed: list[str],
    where: str,
) -> str:
    if len(inputs) == 1:
        shape = _shape(inputs[0])
        if shape is not None and len(shape) == 2 and shape[1] == len(feature_names):
            return (
                f"{where}: the model takes one tensor {inputs[0].name!r} of width "
                f"{len(feature_names)}, not one input per feature; if its columns are the "
                f"features in build order ({_names_list(list(feature_names), 4)}), bundle with "
                "--by-order (a model exported by featuredsl's to_onnx, which records its "
                "features) or --assume-order (a plain model: the mapping is taken unchecked)"
            )
    parts = []
    if unknown:
        parts.append(f"model input(s) {_names_list(unknown)} are not features of the build")
    if unfed:
        parts.append(f"feature(s) {_names_list(unfed)} have no model input")
    return f"{where}: inputs do not match the features by name: " + "; ".join(parts)


def _named_link(info: onnx.ValueInfoProto, column: int, where: str) -> InputLink:
    elem = _elem_type(info, where)
    shape = _shape(info)
    if shape is not None and len(shape) == 1:
        return InputLink(info.name, (column,), elem, 1)
    if shape is not None and len(shape) == 2 and shape[1] in (1, None):
        return InputLink(info.name, (column,), elem, 2)
    raise ArtifactError(
        f"{where}: model input {info.name!r} has {_show_shape(shape)}; an input matched by "
        "name takes one feature column, [N] or [N, 1]"
    )


# ----------------------------------------------------------------------------- the adapter


def _adapter(links: Sequence[InputLink]) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes that turn `features` into the (prefixed) model inputs."""
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    source: dict[int, str] = {TensorProto.DOUBLE: FEATURES}
    if any(link.elem_type == TensorProto.FLOAT for link in links):
        # One cast for all inputs: the only place where float64 becomes float32.
        source[TensorProto.FLOAT] = ADAPTER_PREFIX + "features_f32"
        nodes.append(
            helper.make_node("Cast", [FEATURES], [source[TensorProto.FLOAT]], to=TensorProto.FLOAT)
        )
    for k, link in enumerate(links):
        target = MODEL_PREFIX + link.model_input
        if link.rank == 2 and len(link.columns) > 1:  # by order: every column, in order
            nodes.append(helper.make_node("Identity", [source[link.elem_type]], [target]))
            continue
        index = ADAPTER_PREFIX + f"column_{k}"
        value = link.columns[0] if link.rank == 1 else list(link.columns)
        initializers.append(numpy_helper.from_array(_int64(value), index))
        nodes.append(helper.make_node("Gather", [source[link.elem_type], index], [target], axis=1))
    return nodes, initializers


def _int64(value: int | list[int]) -> np.ndarray:
    return np.array(value, dtype=np.int64)


# ----------------------------------------------------------------------------- opsets


def _opsets(model: onnx.ModelProto) -> dict[str, int]:
    """Domain -> version; the highest when a domain is listed twice (skl2onnx does that)."""
    found: dict[str, int] = {}
    for entry in model.opset_import:
        domain = "" if entry.domain == "ai.onnx" else entry.domain
        found[domain] = max(found.get(domain, 0), entry.version)
    return found


def _convert_default_domain(model: onnx.ModelProto, version: int, what: str) -> onnx.ModelProto:
    from onnx import version_converter

    try:
        return version_converter.convert_version(model, version)
    except Exception as err:
        raise ArtifactError(
            f"{what}: cannot convert its default-domain opset to {version} ({err}); export it "
            f"with target_opset={version}"
        ) from None


def unify_opsets(
    features: onnx.ModelProto, model: onnx.ModelProto, where: str
) -> tuple[onnx.ModelProto, onnx.ModelProto, dict[str, int]]:
    """Bring both graphs to one default-domain opset (converting the older one); other domains
    take the higher version (the checker and onnxruntime then confirm the graph)."""
    f_ops, m_ops = _opsets(features), _opsets(model)
    f_default, m_default = f_ops.get(DEFAULT_DOMAIN, 0), m_ops.get(DEFAULT_DOMAIN, 0)
    if m_default and m_default < f_default:
        model = _convert_default_domain(model, f_default, where)
    elif m_default > f_default:
        features = _convert_default_domain(features, m_default, "the feature graph")
    unified = dict(f_ops)
    for domain, version in _opsets(model).items():
        unified[domain] = max(unified.get(domain, 0), version)
    unified[DEFAULT_DOMAIN] = max(f_default, m_default)
    return features, model, unified


# ----------------------------------------------------------------------------- merging


def _graph_names(graph: onnx.GraphProto) -> set[str]:
    names = {i.name for i in graph.input} | {o.name for o in graph.output}
    names |= {t.name for t in graph.initializer}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    return names


def _check_outputs(model: onnx.ModelProto, features: onnx.ModelProto, where: str) -> None:
    taken = _graph_names(features.graph) | {FEATURES}
    clash = [o.name for o in model.graph.output if o.name in taken]
    if clash:
        raise ArtifactError(
            f"{where}: model output(s) {_names_list(clash)} have the name of a feature-graph "
            "input or value; rename them when exporting the model"
        )
    if not model.graph.output:
        raise ArtifactError(f"{where}: the model has no outputs")


def mapping(feature_names: Sequence[str]) -> list[str]:
    """The by-order mapping, one line per model column: 'column 3 <- age_bucket'."""
    return [f"column {j} <- {name}" for j, name in enumerate(feature_names)]


def _check_pairing(
    model: onnx.ModelProto,
    graph: FeatureGraph,
    by_order: bool,
    where: str,
    assume_order: bool = False,
) -> None:
    """A model that records the features it was trained on must be bundled with those; a
    model that records nothing is fed by order only when the caller says so (assume_order)."""
    meta = metadata(model)
    if KEY_BUNDLE in meta:
        raise ArtifactError(f"{where}: is already a featuredsl bundle; pass the bare model")
    _check_zipmap(model, where)
    records = KEY_FINGERPRINT in meta or KEY_FEATURE_NAMES in meta
    if by_order and not records and not assume_order:
        shown = "; ".join(mapping(graph.feature_names)[:4])
        more = len(graph.feature_names) - 4
        raise ArtifactError(
            f"{where}: records no features it was trained on (no {KEY_FINGERPRINT} or "
            f"{KEY_FEATURE_NAMES} metadata), so feeding it {len(graph.feature_names)} columns "
            f"by order cannot be checked: a model trained on another build of the same width "
            "would be accepted and score wrong. Export it with "
            "featuredsl.runtime.sklearn.to_onnx / model_to_onnx (they record the features), "
            "name its inputs after the features, or accept the mapping explicitly with "
            f"--assume-order (assume_order=True): {shown}"
            + (f"; ... and {more} more" if more > 0 else "")
        )
    trained_on = meta.get(KEY_FINGERPRINT)
    if trained_on is not None and trained_on != graph.fingerprint:
        raise ArtifactError(
            f"{where}: was trained on features with fingerprint {trained_on[:16]}, but "
            f"{graph.where} has fingerprint {graph.fingerprint[:16]}; bundle it with the build "
            "it was trained on, or retrain it"
        )
    names = meta.get(KEY_FEATURE_NAMES)
    if by_order and names is not None:
        expected = list(graph.feature_names)
        try:
            recorded = json.loads(names)
        except json.JSONDecodeError:
            raise ArtifactError(f"{where}: metadata {KEY_FEATURE_NAMES} is not JSON") from None
        if recorded != expected:
            first = next(
                (i for i, (a, b) in enumerate(zip(recorded, expected, strict=False)) if a != b),
                min(len(recorded), len(expected)),
            )
            raise ArtifactError(
                f"{where}: was trained on features in another order: column {first} is "
                f"{_at(recorded, first)} in the model and {_at(expected, first)} in "
                f"{graph.where}"
            )


def _check_zipmap(model: onnx.ModelProto, where: str) -> None:
    """A ZipMap output (a sequence of maps) cannot be served, logged or compared: refuse it here,
    at bundle time, rather than when a Session starts."""
    maps = [
        o.name
        for o in model.graph.output
        if o.type.HasField("sequence_type") or o.type.HasField("map_type")
    ]
    if maps:
        raise ArtifactError(
            f"{where}: output(s) {_names_list(maps)} are a sequence of maps (skl2onnx's ZipMap), "
            "which a featuredsl Session cannot serve or log; export the classifier with "
            "skl2onnx's options={id(classifier): {'zipmap': False}} (probabilities as one "
            "tensor), or with featuredsl.runtime.sklearn.to_onnx, which does so"
        )


def _at(names: list[str], i: int) -> str:
    return repr(names[i]) if i < len(names) else "(none)"


def _prefixed(model: onnx.ModelProto) -> onnx.GraphProto:
    # Outputs keep their names: they are what callers ask for.
    return onnx.compose.add_prefix_graph(model.graph, MODEL_PREFIX, rename_outputs=False)


def _bundle_metadata(
    graph: FeatureGraph,
    model: onnx.ModelProto,
    links: Sequence[InputLink],
    by: str,
    model_sha256: str,
) -> dict[str, str]:
    props = {k: v for k, v in metadata(model).items() if not k.startswith(METADATA_PREFIX)}
    props.update(
        {
            KEY_FINGERPRINT: graph.fingerprint,
            KEY_FEATURE_NAMES: json.dumps(list(graph.feature_names), ensure_ascii=False),
            KEY_VERSION: __version__,
            KEY_SPEC: graph.spec,
            KEY_INPUTS: json.dumps(list(graph.inputs), ensure_ascii=False),
            # The freshness contract travels with the graph that enforces its `else null`.
            **{k: v for k, v in metadata(graph.model).items() if k in (KEY_FRESHNESS, KEY_EVENTS)},
            KEY_BUNDLE: json.dumps(
                {
                    "by": by,
                    **(
                        {"checked": False, "mapping": mapping(graph.feature_names)}
                        if by == "assumed order"
                        else {}
                    ),
                    "model_inputs": {
                        link.model_input: {
                            "dtype": link.dtype,
                            "columns": [graph.feature_names[j] for j in link.columns]
                            if by == "name"
                            else "all",
                        }
                        for link in links
                    },
                },
                ensure_ascii=False,
            ),
            KEY_MODEL_SHA256: model_sha256,
            KEY_MODEL_OUTPUTS: json.dumps([o.name for o in model.graph.output]),
            KEY_MODEL_PRODUCER: f"{model.producer_name} {model.producer_version}".strip(),
        }
    )
    return props


def merge(
    graph: FeatureGraph,
    model: onnx.ModelProto,
    *,
    by_order: bool = False,
    model_sha256: str | None = None,
    where: str = "model",
    assume_order: bool = False,
) -> onnx.ModelProto:
    """One model: `graph`'s inputs in, `model`'s outputs and `features` out. Checked.
    assume_order: feed a model that records no features by order, unchecked (implies by_order;
    the mapping is recorded in the bundle's metadata)."""
    by_order = by_order or assume_order
    if model_sha256 is None:
        model_sha256 = hashlib.sha256(model.SerializeToString(deterministic=True)).hexdigest()
    links = plan_inputs(model, graph.feature_names, by_order, where)
    _check_pairing(model, graph, by_order, where, assume_order)
    _check_outputs(model, graph.model, where)
    # The feature graph's exact routines (model-local functions) are inlined first: the
    # model's opset may be newer, and the version converter converts graphs, not functions.
    inlined = onnx.inliner.inline_local_functions(graph.model)
    kept = [o for o in inlined.opset_import if o.domain != ROUTINE_DOMAIN]
    del inlined.opset_import[:]
    inlined.opset_import.extend(kept)
    features, converted, opsets = unify_opsets(inlined, model, where)
    body = _prefixed(converted)
    adapter_nodes, adapter_inits = _adapter(links)
    features_out = next(o for o in features.graph.output if o.name == FEATURES)
    merged_graph = helper.make_graph(
        list(features.graph.node) + adapter_nodes + list(body.node),
        f"{features.graph.name}_bundle",
        list(features.graph.input),
        [*body.output, features_out],
        list(features.graph.initializer) + adapter_inits + list(body.initializer),
        value_info=list(features.graph.value_info) + list(body.value_info),
    )
    merged_graph.sparse_initializer.extend(body.sparse_initializer)
    merged = helper.make_model(
        merged_graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
        ir_version=max(features.ir_version, converted.ir_version),
        producer_name="featuredsl",
        producer_version=__version__,
        functions=list(converted.functions),
    )
    merged.doc_string = f"featuredsl bundle of spec {graph.spec} and a model ({where})"
    helper.set_model_props(
        merged, _bundle_metadata(graph, converted, links, _by(model, by_order), model_sha256)
    )
    check(merged, where)
    return merged


def _by(model: onnx.ModelProto, by_order: bool) -> str:
    """How the model's inputs were linked: "name", "order" (checked against what the model
    records) or "assumed order" (a model that records nothing, bundled with assume_order)."""
    if not by_order:
        return "name"
    meta = metadata(model)
    return "order" if KEY_FINGERPRINT in meta or KEY_FEATURE_NAMES in meta else "assumed order"


def check(model: onnx.ModelProto, where: str) -> None:
    """onnx's full checker, then an onnxruntime load: both must accept the bundle."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as err:
        raise ArtifactError(
            f"{where}: the bundled model fails onnx's checker ({_first_line(err)}); opsets "
            f"{_show_opsets(model)}"
        ) from None
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise ArtifactError(
            f"{where}: onnxruntime cannot load the bundled model ({_first_line(err)})"
        ) from None


def _first_line(err: Exception, limit: int = 300) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show_opsets(model: onnx.ModelProto) -> str:
    return ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import)


def serialize(model: onnx.ModelProto) -> bytes:
    data: bytes = model.SerializeToString(deterministic=True)
    return data


def bundle(
    build_dir: str | Path,
    model_path: str | Path,
    out: str | Path,
    *,
    by_order: bool = False,
    assume_order: bool = False,
) -> BundleReport:
    """Merge a build's feature graph and a model graph into one checked ONNX file.

    `featuredsl bundle DIR MODEL --out OUT`. The bundle takes the raw named inputs of the feature
    graph and gives the model's outputs plus `features` ([N, F] float64); a float32 model input
    gets the features through one explicit Cast. Metadata records the fingerprint, feature names,
    input schema, the model's sha256 and producer (see docs/serving.md).

    Args:
        build_dir: a build directory written by `featuredsl build`.
        model_path: an ONNX model with one float tensor input of width F (or, with
            `by_order=False`, inputs named after the features).
        out: the file to write.
        by_order: feed the model's single input with the features in manifest order; the
            model must record the features it was trained on (`to_onnx` / `model_to_onnx`
            models do), which are checked.
        assume_order: as by_order, for a plain model that records nothing: the mapping is
            taken unchecked, reported (`BundleReport.by == "assumed order"`) and recorded in
            the bundle's metadata.

    Returns:
        A BundleReport: the output path, fingerprint, feature names and how inputs were linked.

    Raises:
        ArtifactError: the build or the model cannot be read, the shapes, names or opsets do not
            fit, the merged graph fails onnx's full check, or `out` cannot be written.
    """
    graph = feature_graph_from_dir(build_dir)
    model, sha = read_model(model_path)
    by_order = by_order or assume_order
    merged = merge(
        graph,
        model,
        by_order=by_order,
        model_sha256=sha,
        where=str(model_path),
        assume_order=assume_order,
    )
    data = serialize(merged)
    out_path = Path(out)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_bytes(data)
    except OSError as err:
        raise ArtifactError(f"{out_path}: cannot write the bundle ({err.strerror})") from None
    return BundleReport(
        out_path,
        graph.fingerprint,
        graph.feature_names,
        _by(model, by_order),
        plan_inputs(model, graph.feature_names, by_order, str(model_path)),
        tuple(o.name for o in model.graph.output),
        sha,
        tuple((o.domain or "ai.onnx", o.version) for o in merged.opset_import),
        len(data),
    )
