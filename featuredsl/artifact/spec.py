"""Build, save and load the artifacts of a spec: numpy module, ONNX graph(s), manifest.

Both artifacts and the manifest carry one fingerprint: a hash of the canonical spec text and
the fitted constants. Loading checks that all three agree.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx

from featuredsl import __version__
from featuredsl.artifact.conformance import kit
from featuredsl.artifact.conformance.edge_cases import edge_case_feed
from featuredsl.artifact.contract import (
    CONSTANTS_FILE,
    FAILED_FILE,
    KEY_FEATURE_NAMES,
    KEY_FINGERPRINT,
    MANIFEST_FILE,
    MODULE_FILE,
    ONNX_F32_FILE,
    ONNX_FILE,
    OUTPUT,
)
from featuredsl.artifact.manifest import encode_pool, manifest_text
from featuredsl.artifact.quality import DataQuality, assess
from featuredsl.backends.numpy import codegen as numpy_backend
from featuredsl.backends.numpy.evaluate import evaluate, execute_module
from featuredsl.backends.onnx import graph as onnx_backend
from featuredsl.compiler.boundaries import constant_pool, feature_bounds
from featuredsl.compiler.frontend import check_source, read_spec
from featuredsl.compiler.ir import Builder, Program, walk
from featuredsl.errors import ArtifactError, DataError
from featuredsl.fit.fitting import FittedConstant, fit_program


def _feed(data: Any, program: Program, source: str, extra: str = "ignore") -> dict[str, np.ndarray]:
    from featuredsl.ingest import to_feed

    return to_feed(data, program.inputs, source=source, extra=extra)


def null_encoding(column: Any) -> str:
    if not column.nullable:
        return "none"
    if column.mask_name is None:
        return "NaN"
    return f"mask:{column.mask_name}"


def fingerprint_of(
    canonical_source: str,
    values: Sequence[Any],
    params: Sequence[Any],
    tzdata: str | None = None,
) -> str:
    """sha256 (hex) of the canonical spec text, the fitted constants' values and parameters, and,
    for a spec that names a time zone, the tzdata version its zone tables come from."""
    content: dict[str, Any] = {"spec": canonical_source, "constants": list(values)}
    content["params"] = list(params)
    if tzdata is not None:
        content["tzdata"] = tzdata
    payload = json.dumps(content, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def tzdata_of(program: Program) -> str | None:
    """The tzdata version of the zone tables in `program`, or None when it names no zone."""
    versions = {node.attr("tzdata") for node in walk(program.roots) if node.op == "gather"}
    return versions.pop() if versions else None


class Spec:
    """A checked, unfitted spec: its program with analyzers not yet fitted.

    Args:
        source: the spec text.
        filename: how diagnostics name the text.

    Raises:
        DiagnosticError: the spec does not parse or check; every error with file, line,
            column, a caret and the fix.
    """

    def __init__(self, source: str, filename: str = "<spec>"):
        self.source = source
        self.filename = filename
        self.builder = Builder()
        self.program = check_source(source, filename, self.builder)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        # Copies and pickles (sklearn's clone, joblib workers) re-check the text: a fresh builder.
        return (Spec, (self.source, self.filename))

    def __repr__(self) -> str:
        return f"Spec({self.program.name!r}, filename={self.filename!r})"

    @property
    def name(self) -> str:
        """The name after `spec` in the text."""
        return self.program.name

    @property
    def inputs(self) -> tuple[Any, ...]:
        """The declared input columns, in order (`InputColumn(name, dtype, nullable)`)."""
        return self.program.inputs

    def unsupported(self) -> list[str]:
        """Ops the serving graph cannot compute, with their reasons."""
        ops = {n.op for n in walk(self.program.roots)}
        return [
            f"{op}: {reason}"
            for op, reason in onnx_backend.UNSUPPORTED.items()
            if op in ops and op != "fitted"
        ]

    def feed(self, data: Any, source: str = "training data") -> dict[str, np.ndarray]:
        """Convert and validate data (a table, a Parquet/CSV path, a dict of arrays) to the feed."""
        return _feed(data, self.program, source)

    def fit(self, data: Any, source: str = "training data") -> FittedSpec:
        """Fit every analyzer (mean, quantiles, vocab, ...) on the training data.

        Args:
            data: a pandas DataFrame, a pyarrow Table or RecordBatch, a dict of 1-D columns (numpy
            arrays, lists, Series, Arrow arrays), a list of row dicts, or a path to a Parquet or
            CSV file; it needs every declared input column (others are ignored), typed as the spec
            declares (floats float64 with NaN as null; ints int64; timestamps tz-aware datetimes
            or int64 microseconds since the epoch, UTC; text in Unicode NFC).
            source: how errors name the data.

        Returns:
            The FittedSpec: both artifacts and the manifest can be produced from it.

        Raises:
            DataError: a column is missing or holds a value that does not fit its declared type
                (the column, row, value and the fix are named).
            DiagnosticError: an analyzer has nothing to fit on (e.g. every value is null),
                pointing at the analyzer in the spec.
        """
        return self.fit_feed(self.feed(data, source))

    def fit_feed(self, feed: dict[str, np.ndarray]) -> FittedSpec:
        """`fit` on a canonical feed (`featuredsl.ingest.to_feed`), with no conversion."""
        program, constants = fit_program(self.program, feed, self.builder, evaluate)
        sample = kit.spread(len(next(iter(feed.values()), ())), kit.DATA_ROWS)
        fitted = FittedSpec(
            program,
            constants,
            fingerprint_of(
                program.canonical_source,
                [c.value for c in constants],
                [c.params for c in constants],
                tzdata_of(program),
            ),
            kit_sample={name: values[sample] for name, values in feed.items()},
        )
        names = [n for c in program.inputs for n in (c.name, c.mask_name) if n is not None]
        if all(name in feed for name in names):  # a partial feed fits what it can, unassessed
            features = fitted.transform_feed(feed)
            fitted.quality = assess(program, feed, features, fitted.feature_names)
        return fitted


def load_spec(path: str | Path) -> Spec:
    """Read and check a .fdsl file.

    Raises:
        FeatureDSLError: the file cannot be read or is not UTF-8.
        DiagnosticError: the spec does not parse or check (file, line, column, caret, fix).
    """
    return Spec(read_spec(path), str(path))


SpecLike = Spec | str | os.PathLike[str]


def as_spec(spec: SpecLike, where: str = "spec") -> Spec:
    """The one way every API takes a spec: a loaded Spec, a path to a .fdsl file (str or Path),
    or the spec text itself (a string holding a newline or not naming a file)."""
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, os.PathLike):
        return load_spec(Path(spec))
    if isinstance(spec, str):
        if "\n" not in spec and (spec.endswith(".fdsl") or Path(spec).is_file()):
            return load_spec(spec)
        return Spec(spec)
    if isinstance(spec, FittedSpec):
        raise TypeError(
            f"{where}: this FittedSpec is already fitted; pass the unfitted spec "
            "(featuredsl.load_spec(path)), its path or its text"
        )
    raise TypeError(
        f"{where} must be a Spec (featuredsl.load_spec(path)), a path to a .fdsl file or the "
        f"spec text, not {type(spec).__name__}"
    )


@dataclass
class FittedSpec:
    """A spec with its statistics fitted: the source of both artifacts and the manifest.

    `transform` runs the numpy module in process; `save` writes the build directory (module,
    ONNX graph, manifest, conformance kit). `fingerprint` (sha256 hex) identifies the canonical
    spec and the fitted constants; both artifacts carry it.
    """

    program: Program
    constants: list[FittedConstant]
    fingerprint: str
    _module: dict[str, Any] = field(default_factory=dict, repr=False)
    # Training rows for the conformance kit (an even spread of at most kit.DATA_ROWS).
    kit_sample: dict[str, np.ndarray] | None = field(default=None, repr=False)
    # What the training data looked like through the features (None: not fitted here).
    quality: DataQuality | None = field(default=None, repr=False)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The output column names, in order (a one_hot feature has one per column)."""
        return self.program.feature_columns

    @cached_property
    def numpy_files(self) -> dict[str, bytes]:
        """The numpy module and, when it stores long list constants, its constants file."""
        source, constants = numpy_backend.render_module_files(
            numpy_backend.ModuleSpec(
                spec_name=self.program.name,
                fingerprint=self.fingerprint,
                inputs=self.program.inputs,
                outputs=tuple((f.name, f.node) for f in self.program.features),
                column_names=self.feature_names,
                widths=tuple(len(f.column_names or ()) for f in self.program.features),
                constants_file=CONSTANTS_FILE,
            )
        )
        files = {MODULE_FILE: source.encode("utf-8")}
        if constants is not None:
            files[CONSTANTS_FILE] = constants
        return files

    @cached_property
    def boundaries(self) -> dict[str, list[Any]]:
        """The constant pool the edge cases are built from (long lists sampled)."""
        return constant_pool(self.program)

    @property
    def numpy_source(self) -> str:
        """The text of the standalone training module (features_train.py)."""
        return self.numpy_files[MODULE_FILE].decode("utf-8")

    def onnx_model(self, float32: bool = False) -> onnx.ModelProto:
        """The serving graph: one input per declared column ([N]; masks for nullable non-float
        columns), one output `features` [N, F] float64 (float32 if `float32`).

        Raises ArtifactError when an op cannot be served (none at present)."""
        unsupported = [n.op for n in walk(self.program.roots) if n.op in onnx_backend.UNSUPPORTED]
        if unsupported:
            reason = onnx_backend.UNSUPPORTED[unsupported[0]]
            raise ArtifactError(
                f"spec {self.program.name}: cannot build the serving graph: {reason}"
            )
        return onnx_backend.build_model(
            onnx_backend.GraphSpec(
                spec_name=self.program.name,
                fingerprint=self.fingerprint,
                inputs=self.program.inputs,
                outputs=tuple((f.name, f.node) for f in self.program.features),
                column_names=self.feature_names,
                float32=float32,
            )
        )

    def feed(self, data: Any, source: str = "data") -> dict[str, np.ndarray]:
        """`data` converted to the canonical feed; DataError naming column and row otherwise."""
        return _feed(data, self.program, source)

    def transform_feed(self, feed: Mapping[str, np.ndarray], float32: bool = False) -> np.ndarray:
        """The numpy module on a canonical feed: float64 [rows, len(feature_names)] (values
        rounded once to float32 when `float32`)."""
        beside = {name: data for name, data in self.numpy_files.items() if name != MODULE_FILE}
        result: np.ndarray = execute_module(self.numpy_source, dict(feed), beside, float32=float32)
        return result

    def transform(self, data: Any, float32: bool = False, as_frame: bool = False) -> Any:
        """The features of `data`: float64 [rows, len(feature_names)] in `feature_names` order.

        Args:
            data: a pandas DataFrame, a pyarrow Table or RecordBatch, a dict of 1-D columns (numpy
                arrays, lists, Series, Arrow arrays), a list of row dicts, or a path to a Parquet
                or CSV file; it needs every declared input column (others are ignored), typed as
                the spec declares (floats float64 with NaN as null; ints int64; timestamps
                tz-aware datetimes or int64 microseconds since the epoch, UTC; text in NFC).
            float32: the values rounded once to float32 (what a float32 model is fed).
            as_frame: a pandas DataFrame with the feature names as columns instead.

        Raises:
            DataError: a column is missing or a value does not fit its declared type.
        """
        out = self.transform_feed(self.feed(data), float32=float32)
        return _features_out(out, self.feature_names, as_frame)

    def manifest(self, float32: bool = False) -> dict[str, Any]:
        """The manifest (JSON-ready): schema, feature order, constants, fingerprint, data
        quality and parity metadata (file hashes are added by `files`)."""
        tzdata = tzdata_of(self.program)
        return {
            "featuredsl_version": __version__,
            "spec": self.program.name,
            "fingerprint": self.fingerprint,
            "canonical_spec": self.program.canonical_source,
            **({"tzdata": tzdata} if tzdata is not None else {}),
            "inputs": [
                {
                    "name": c.name,
                    "dtype": str(c.dtype),
                    "nullable": c.nullable,
                    "null_encoding": null_encoding(c),
                }
                for c in self.program.inputs
            ],
            "features": [
                {
                    "name": f.name,
                    "dtype": str(f.dtype),
                    "columns": list(f.column_names or ()),
                    "inputs": list(f.inputs_used),
                }
                for f in self.program.features
            ],
            "feature_names": list(self.feature_names),
            **({"data_quality": self.quality.to_json()} if self.quality else {}),
            "output": {
                "name": OUTPUT,
                "dtype": "float64",
                "float32_variant": ONNX_F32_FILE if float32 else None,
            },
            "constants": [
                {
                    "analyzer": c.analyzer,
                    "params": c.params,
                    "at": f"{c.line}:{c.column}",
                    "expression": c.source,
                    "value": c.value,
                }
                for c in self.constants
            ],
            "onnx": {
                "opset": onnx_backend.OPSET,
                "ml_opset": onnx_backend.ML_OPSET,
                "ir_version": onnx_backend.IR_VERSION,
            },
            "parity": {
                "ulp_bounds": feature_bounds(self.program.features),
                "constant_pool": encode_pool(self.boundaries),
            },
        }

    def kit_files(self, manifest: Mapping[str, Any]) -> dict[str, bytes]:
        """The conformance kit (paths relative to the build directory -> bytes): the edge
        cases and the training sample kept by `fit`, with the numpy module's outputs."""
        edge = edge_case_feed(manifest["inputs"], self.boundaries)
        edge_rows = kit.spread(len(next(iter(edge.values()))), kit.EDGE_ROWS)
        parts, sources = [], {}
        if self.kit_sample and len(next(iter(self.kit_sample.values()))):
            parts.append(self.kit_sample)
            sources["data"] = len(next(iter(self.kit_sample.values())))
        parts.append({name: values[edge_rows] for name, values in edge.items()})
        sources["edge cases"] = len(edge_rows)
        feed = {name: np.concatenate([part[name] for part in parts]) for name in parts[-1]}
        return kit.kit_files(manifest, feed, sources, self.transform_feed(feed))

    def files(self, float32: bool = False) -> dict[str, bytes]:
        """Every file of the build directory (relative path -> bytes), the manifest last.

        The manifest records the sha256 of every other file; loading checks them."""
        files = dict(self.numpy_files)
        files[ONNX_FILE] = _serialize(self.onnx_model())
        if float32:
            files[ONNX_F32_FILE] = _serialize(self.onnx_model(float32=True))
        manifest = self.manifest(float32)
        files.update(self.kit_files(manifest))
        manifest["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
        files[MANIFEST_FILE] = (manifest_text(manifest) + "\n").encode("utf-8")
        return files

    def save(self, out_dir: str | Path, float32: bool = False) -> dict[str, Path]:
        """Write the build directory: features_train.py, features.onnx (and features.f32.onnx
        when `float32`), the conformance kit and manifest.json last; -> the paths by file name.
        Byte-identical for the same spec and data. No parity check: `featuredsl.build` does
        that before publishing. Raises OSError when the directory cannot be written."""
        """Write the build directory (module, graph(s), conformance kit, manifest last) and
        remove the files an earlier build wrote there that this one does not; -> the paths
        written, by relative name."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        earlier = build_files(out)
        written = {}
        for name, data in self.files(float32).items():
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written[name] = path
        remove_stale(out, earlier, set(written))
        return written


def build_files(directory: Path) -> set[str]:
    """The files a build directory's manifest lists (empty if it has no readable manifest)."""
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text("utf-8"))
        return {str(name) for name in manifest.get("files", {})} | {MANIFEST_FILE}
    except (OSError, ValueError, AttributeError):
        return set()


def remove_stale(directory: Path, earlier: set[str], current: set[str]) -> None:
    """Delete the files of an earlier build that the current one no longer writes."""
    for name in sorted(earlier - current):
        path = directory / name
        if path.is_file() and path.resolve().is_relative_to(directory.resolve()):
            path.unlink()
    stale = directory / ONNX_F32_FILE  # builds before file hashes did not list it
    if ONNX_F32_FILE not in current and stale.exists():
        stale.unlink()


def _serialize(model: onnx.ModelProto) -> bytes:
    onnx_backend.check_model(model)
    data: bytes = model.SerializeToString(deterministic=True)
    return data


def verify_file(directory: Path, manifest: Mapping[str, Any], name: str) -> Path:
    """The path of build file `name` (relative to `directory`) after checking its bytes
    against the sha256 the manifest records; ArtifactError naming the file otherwise."""
    path = directory / name
    recorded = manifest.get("files", {}).get(name)
    if recorded is None:
        raise ArtifactError(
            f"{directory / MANIFEST_FILE}: records no sha256 of {name}; rebuild {directory} "
            f"with featuredsl {__version__}"
        )
    try:
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing; rebuild {directory}") from None
    if actual != recorded:
        raise ArtifactError(
            f"{path}: changed after the build (sha256 {actual[:16]}..., the manifest records "
            f"{recorded[:16]}...); restore the file or rebuild {directory}"
        )
    return path


def manifest_fingerprint(manifest: Mapping[str, Any]) -> str:
    """The fingerprint recomputed from the manifest's canonical spec and fitted constants."""
    return fingerprint_of(
        manifest["canonical_spec"],
        [c["value"] for c in manifest["constants"]],
        [c["params"] for c in manifest["constants"]],
        manifest.get("tzdata"),
    )


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of a build directory, refused (ArtifactError naming the file) if the build
    was marked failed, the JSON is unreadable or incomplete, or its fingerprint does not follow
    from its canonical spec and constants."""
    path = directory / MANIFEST_FILE
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: not a build directory (run `featuredsl build` first)")
    failed = directory / FAILED_FILE
    if failed.exists():
        try:
            reason = str(json.loads(failed.read_text("utf-8")).get("reason"))
        except (ValueError, AttributeError):
            reason = "(the reason could not be read)"
        raise ArtifactError(
            f"{directory}: this build failed its checks and must not be used "
            f"({failed.name}):\n{reason}"
        )
    try:
        manifest: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ArtifactError(
            f"{path}: missing; is {directory} a featuredsl build directory?"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactError(f"{path}: not valid JSON ({error})") from None
    for key in ("fingerprint", "feature_names", "inputs", "canonical_spec", "constants"):
        if key not in manifest:
            raise ArtifactError(f"{path}: has no '{key}'; was it written by featuredsl build?")
    try:
        recomputed = manifest_fingerprint(manifest)
    except (KeyError, TypeError) as error:
        raise ArtifactError(f"{path}: corrupt constants ({error})") from None
    if recomputed != manifest["fingerprint"]:
        raise ArtifactError(
            f"{path}: its fingerprint {str(manifest['fingerprint'])[:16]}... does not follow "
            f"from its canonical spec and constants ({recomputed[:16]}...); the manifest was "
            "edited: rebuild the directory"
        )
    return manifest


class Artifacts:
    """A loaded build directory: the numpy module, the ONNX session, and the manifest.

    Nothing runs before it is checked: a directory marked failed is refused with its reason;
    the module's, its constants file's and the graphs' sha256 must equal the manifest's, the manifest's fingerprint
    must follow from its canonical spec and constants, and the manifest, the module and the
    graph must agree on fingerprint, feature names and inputs. Each failure is an
    ArtifactError naming the file."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        self.fingerprint: str = self.manifest["fingerprint"]
        self.feature_names: tuple[str, ...] = tuple(self.manifest["feature_names"])
        self.onnx_path = self.directory / ONNX_FILE
        self._check_onnx_metadata(self.onnx_path)
        verify_file(self.directory, self.manifest, ONNX_FILE)
        if (self.manifest.get("output") or {}).get("float32_variant"):
            verify_file(self.directory, self.manifest, ONNX_F32_FILE)
        self.module = self._load_module()
        self._session: Any = None

    def _load_module(self) -> ModuleType:
        path = verify_file(self.directory, self.manifest, MODULE_FILE)
        if CONSTANTS_FILE in self.manifest.get("files", {}):
            verify_file(self.directory, self.manifest, CONSTANTS_FILE)
        spec = importlib.util.spec_from_file_location(
            f"featuredsl_build_{self.fingerprint[:12]}", path
        )
        if spec is None or spec.loader is None:
            raise ArtifactError(f"{path}: cannot be imported")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:  # a corrupt file: report it, never a traceback
            raise ArtifactError(f"{path}: cannot be imported: {error}") from None
        found = getattr(module, "FINGERPRINT", None)
        if found != self.fingerprint:
            raise ArtifactError(
                f"{path}: fingerprint {found!r} does not match manifest {self.fingerprint!r}; rebuild the directory"
            )
        names = tuple(getattr(module, "FEATURE_NAMES", ()))
        if names != self.feature_names:
            raise ArtifactError(
                f"{self.directory / MANIFEST_FILE}: its feature_names do not match those of {path.name} "
                f"({_differs(self.feature_names, names)}); the manifest was edited: rebuild the directory"
            )
        declared = tuple((i["name"], i["dtype"], i["nullable"]) for i in self.manifest["inputs"])
        if tuple(tuple(i) for i in getattr(module, "INPUTS", ())) != declared:
            raise ArtifactError(
                f"{self.directory / MANIFEST_FILE}: its inputs differ from those of {path.name}; "
                "the manifest was edited: rebuild the directory"
            )
        return module

    def _check_onnx_metadata(self, path: Path) -> None:
        if not path.exists():
            raise ArtifactError(f"{path}: missing")
        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as error:
            raise ArtifactError(f"{path}: not a readable ONNX model ({error})") from None
        props = {p.key: p.value for p in model.metadata_props}
        if props.get(KEY_FINGERPRINT) != self.fingerprint:
            raise ArtifactError(
                f"{path}: fingerprint {props.get(KEY_FINGERPRINT)!r} does not match manifest "
                f"{self.fingerprint!r}; the graph comes from another build"
            )
        try:
            names = tuple(json.loads(props.get(KEY_FEATURE_NAMES, "[]")))
        except ValueError:
            names = ()
        if names != self.feature_names:
            raise ArtifactError(
                f"{self.directory / MANIFEST_FILE}: its feature_names do not match those of {path.name} "
                f"({_differs(self.feature_names, names)}); the manifest was edited: rebuild the directory"
            )

    @property
    def session(self) -> Any:
        """An onnxruntime InferenceSession of features.onnx (CPU), created on first use."""
        if self._session is None:
            import onnxruntime as ort

            self._session = ort.InferenceSession(
                str(self.onnx_path), providers=["CPUExecutionProvider"]
            )
        return self._session

    @cached_property
    def program_inputs(self) -> tuple[Any, ...]:
        from featuredsl.compiler.ir import InputColumn
        from featuredsl.compiler.types import DType

        return tuple(
            InputColumn(i["name"], DType(i["dtype"]), i["nullable"])
            for i in self.manifest["inputs"]
        )

    def feed(self, data: Any, source: str = "data", extra: str = "ignore") -> dict[str, np.ndarray]:
        """`data` as the canonical feed of the manifest's inputs (`extra="error"` refuses
        undeclared columns); DataError naming the column and row of a bad value."""
        from featuredsl.ingest import to_feed

        return to_feed(data, self.program_inputs, source=source, extra=extra)

    def transform_feed(self, feed: Mapping[str, np.ndarray], float32: bool = False) -> np.ndarray:
        """The build's numpy module on a canonical feed: float64 [rows, features]."""
        try:
            result: np.ndarray = self.module.transform(dict(feed), float32=float32)
        except ValueError as error:
            raise DataError(str(error)) from None
        return result

    def transform(self, data: Any, float32: bool = False, as_frame: bool = False) -> Any:
        """The features of `data` (as `FittedSpec.transform` takes it) from the build's numpy
        module: float64 [rows, features] (see `FittedSpec.transform` for `float32`, `as_frame`);
        DataError for bad data."""
        out = self.transform_feed(self.feed(data), float32=float32)
        return _features_out(out, self.feature_names, as_frame)

    def run_onnx(self, feed: Mapping[str, np.ndarray]) -> np.ndarray:
        """The graph on a canonical feed: float64 [rows, features]."""
        names = {i.name for i in self.session.get_inputs()}
        result: np.ndarray = self.session.run(
            [OUTPUT], {k: v for k, v in feed.items() if k in names}
        )[0]
        return result


def _features_out(values: np.ndarray, names: Sequence[str], as_frame: bool) -> Any:
    """`transform`'s result. float32=True gives the features rounded once to float32, as a
    float32 array (what the float32 serving graph outputs); as_frame=True gives a pandas
    DataFrame whose columns are the feature names (one per one_hot column)."""
    if not as_frame:
        return values
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError(
            "transform(..., as_frame=True) needs pandas: pip install 'featuredsl[pandas]'"
        ) from None
    return pd.DataFrame(values, columns=list(names), copy=False)


def load(directory: str | Path) -> Artifacts:
    """Load a build directory after its integrity checks (see Artifacts); ArtifactError
    naming the file that fails them."""
    return Artifacts(directory)


def _differs(manifest_names: tuple[str, ...], names: tuple[str, ...]) -> str:
    for index, (a, b) in enumerate(zip(manifest_names, names, strict=False)):
        if a != b:
            return f"column {index}: {a!r} in the manifest, {b!r} in the file"
    return f"{len(manifest_names)} names in the manifest, {len(names)} in the file"
