"""Loading a build directory, and nothing before it is checked: a failed build is refused, every
file's sha256 must equal the manifest's, and manifest, module and graph must agree."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx

from featuredsl import __version__
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
from featuredsl.artifact.fingerprint import manifest_fingerprint
from featuredsl.errors import ArtifactError, DataError


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


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of a build directory, refused (ArtifactError naming the file) if the build
    was marked failed, the JSON is unreadable or incomplete, or its fingerprint does not follow
    from its canonical spec and constants."""
    path = directory / MANIFEST_FILE
    if not directory.is_dir():
        if directory.is_file() and (directory.parent / MANIFEST_FILE).exists():
            raise ArtifactError(
                f"{directory}: is a file of a build; pass its directory ({directory.parent})"
            )
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

    def _repr_html_(self) -> str:
        """The build's fitted constants, input contract and data quality, for notebooks."""
        from featuredsl.artifact.display import notebook_html
        from featuredsl.artifact.summary import build_document

        return notebook_html(build_document(self.manifest, where=str(self.directory)))

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

    def feed(
        self,
        data: Any,
        source: str = "data",
        extra: str = "ignore",
        timestamp_unit: str | None = None,
    ) -> dict[str, np.ndarray]:
        """`data` as the canonical feed of the manifest's inputs (`extra="error"` refuses
        undeclared columns; `timestamp_unit` as in `Spec.fit`); DataError naming the column and
        row of a bad value."""
        from featuredsl.ingest import to_feed

        if not self.event_sources:
            return to_feed(
                data, self.program_inputs, source=source, extra=extra, timestamp_unit=timestamp_unit
            )
        from featuredsl.ingest.events import check_rows, events_feed, split_events
        from featuredsl.ingest.feed import feed_length

        rows, per_source = split_events(data, self.event_sources)
        feed = to_feed(
            rows, self.program_inputs, source=source, extra=extra, timestamp_unit=timestamp_unit
        )
        check_rows(per_source, feed_length(feed))
        for event_source in self.event_sources:
            events = per_source[event_source.name]
            keys = feed[event_source.key]
            feed.update(events_feed(event_source, events, timestamp_unit, keys))
        return feed

    @cached_property
    def event_sources(self) -> tuple[Any, ...]:
        """The event sources the windows aggregate (docs/windows.md); () without windows."""
        from featuredsl.compiler.ir import EventSource

        return tuple(EventSource.from_json(s) for s in self.manifest.get("events", ()))

    def transform_feed(self, feed: Mapping[str, np.ndarray], float32: bool = False) -> np.ndarray:
        """The build's numpy module on a canonical feed: float64 [rows, features]."""
        try:
            result: np.ndarray = self.module.transform(dict(feed), float32=float32)
        except ValueError as error:
            raise DataError(str(error)) from None
        return result

    def transform(
        self,
        data: Any,
        float32: bool = False,
        as_frame: bool = False,
        sparse: bool = False,
        timestamp_unit: str | None = None,
        events: Mapping[str, Any] | None = None,
    ) -> Any:
        """The features of `data` (as `FittedSpec.transform` takes it) from the build's numpy
        module: float64 [rows, features] (see `FittedSpec.transform` for `float32`, `as_frame`,
        `sparse`, a scipy.sparse CSR matrix, and `timestamp_unit`); DataError for bad data.
        For a build with window aggregates, `data` is either requests whose rows carry their
        events, or label rows with `events` (each event source's table): the windows are then
        backfilled (featuredsl.artifact.windows)."""
        if self.event_sources and events is not None:
            from featuredsl.artifact.windows import Backfilled
            from featuredsl.ingest import to_feed

            labels = to_feed(data, self.program_inputs, timestamp_unit=timestamp_unit)
            backfilled = Backfilled(self, events, timestamp_unit)
            return features_of(
                backfilled.transform_feed, labels, self.feature_names, float32, as_frame, sparse
            )
        feed = self.feed(data, timestamp_unit=timestamp_unit)
        return features_of(self.transform_feed, feed, self.feature_names, float32, as_frame, sparse)

    def run_onnx(self, feed: Mapping[str, np.ndarray]) -> np.ndarray:
        """The graph on a canonical feed: float64 [rows, features]."""
        names = {i.name for i in self.session.get_inputs()}
        result: np.ndarray = self.session.run(
            [OUTPUT], {k: v for k, v in feed.items() if k in names}
        )[0]
        return result


def load(directory: str | Path) -> Artifacts:
    """Load a build directory after its integrity checks (see Artifacts); ArtifactError
    naming the file that fails them."""
    return Artifacts(directory)


def _differs(manifest_names: tuple[str, ...], names: tuple[str, ...]) -> str:
    for index, (a, b) in enumerate(zip(manifest_names, names, strict=False)):
        if a != b:
            return f"column {index}: {a!r} in the manifest, {b!r} in the file"
    return f"{len(manifest_names)} names in the manifest, {len(names)} in the file"


def features_of(
    transform_feed: Callable[..., np.ndarray],
    feed: Mapping[str, np.ndarray],
    names: Sequence[str],
    float32: bool,
    as_frame: bool,
    sparse: bool,
) -> Any:
    """`transform`'s result from a module's `transform_feed` on `feed`: the dense array (or a
    DataFrame, `features_out`), or with `sparse` a scipy.sparse CSR matrix computed in row
    slices. ValueError for both `as_frame` and `sparse`."""
    if not sparse:
        return features_out(transform_feed(feed, float32=float32), names, as_frame)
    if as_frame:
        raise ValueError("transform: choose as_frame=True or sparse=True, not both")
    from featuredsl.artifact.transform import sparse_features

    return sparse_features(transform_feed, feed, len(names), float32)


def features_out(values: np.ndarray, names: Sequence[str], as_frame: bool) -> Any:
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
