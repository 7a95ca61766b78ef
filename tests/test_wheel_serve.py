"""``pip install zoo`` is enough for ``zoo serve``: the wheel, in a fresh venv with no Node and no ``web/`` folder,
serves the playground (onnxruntime-web fetched once, checked against the lock file's integrity) and answers
Triton's client from the reference set it carries."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from chromium import Browser, find_chromium
from zoo.web import ort_web

REPO = Path(__file__).resolve().parent.parent
httpclient = pytest.importorskip("tritonclient.http", reason="tritonclient[http] (the test extra) is the client")


def npm_cached_tarball() -> Path | None:
    """The pinned onnxruntime-web tarball as ``npm ci`` left it in npm's content-addressed cache, if it did."""
    algorithm, digest = ort_web.ORT_INTEGRITY.split("-", 1)
    hexdigest = base64.b64decode(digest).hex()
    path = Path.home() / ".npm" / "_cacache" / "content-v2" / algorithm / hexdigest[:2] / hexdigest[2:4] / hexdigest[4:]
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """A fresh venv holding only zoo's wheel; its dependencies are this venv's, read through a .pth line."""
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                            str(work / "dist"), str(REPO)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (wheel,) = (work / "dist").glob("zoo-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # Plain path lines: this venv's packages become importable, but its .pth files (zoo's editable install
    # among them) are not run, so the only zoo there is the wheel's.
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                              "--no-index", str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    return venv


def test_a_wheel_install_serves_the_page_and_answers_tritonclient(wheel_venv, tmp_path):
    python = wheel_venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_ORT_DIR", "PYTHONPATH")}
    env["ZOO_HOME"] = str(tmp_path / "zoo-home")
    cached = npm_cached_tarball()
    if cached is not None:  # the same bytes the registry serves, without the network
        env[ort_web.URL_ENV] = cached.as_uri()
    where = subprocess.run([str(python), "-c", "import zoo, zoo_reference; print(zoo.__file__, zoo_reference.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, check=True).stdout.split()
    assert all(Path(p).is_relative_to(wheel_venv) for p in where), where
    process = subprocess.Popen([str(python), "-m", "zoo", "serve", "--port", "0", "--out", str(tmp_path / "runs")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = process.stdout.readline()
        if not line and cached is None and "cannot download" in (err := process.stderr.read()):
            pytest.skip(f"no npm cache and no network to fetch onnxruntime-web: {err.strip()}")
        assert line.startswith("zoo: playground at http://127.0.0.1:"), line + process.stderr.read()
        url = line.split()[3]
        fetched = Path(env["ZOO_HOME"]) / "web" / ort_web.ORT_DIST
        for name in ort_web.ORT_FILES:
            with urllib.request.urlopen(f"{url}ort/{name}", timeout=30) as reply:
                assert reply.read() == (fetched / name).read_bytes()
        with urllib.request.urlopen(url, timeout=30) as reply:
            assert b"<script" in reply.read()
        with urllib.request.urlopen(f"{url}entries.json", timeout=30) as reply:
            entries = json.loads(reply.read())
        names = {entry["name"] for entry in entries["entries"]}
        assert len(names) == 10 and "mnist_cnn" in names  # the reference set the wheel carries
        assert_page_loads_every_entry(url, len(names))
        client = httpclient.InferenceServerClient(url.removeprefix("http://").rstrip("/"))
        assert client.is_server_live() and client.is_model_ready("mnist_cnn")
        pixels = np.zeros((2, 28, 28), np.uint8)
        pixels[1, 4:24, 13:15] = 255  # a stroke: a one
        request = httpclient.InferInput("pixels", list(pixels.shape), "UINT8")
        request.set_data_from_numpy(pixels)
        result = client.infer("mnist_cnn", [request])
        probabilities, classes = result.as_numpy("probabilities"), result.as_numpy("class")
        assert probabilities.shape == (2, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
        assert classes.tolist() == probabilities.argmax(axis=1).tolist()
        assert sorted(replay_every_entry(client, Path(where[1]).parent)) == sorted(names)
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert process.returncode == 143


def assert_page_loads_every_entry(url: str, count: int) -> None:
    """The page, in headless Chromium where there is one, loads onnxruntime-web and every entry without an error."""
    executable = find_chromium()
    if executable is None:
        return  # the HTTP checks above still ran; test_playground.py's browser tests skip with the reason
    with Browser(executable) as browser:
        browser.open(url)
        result = browser.send("Runtime.evaluate", {
            "expression": "zooPlayground.ready.then(() => [Object.keys(zooPlayground.models).length, "
                          "JSON.stringify(zooPlayground.errors)])", "awaitPromise": True, "returnByValue": True,
            "timeout": 60_000})
        assert "exceptionDetails" not in result, result
        assert result["result"]["value"] == [count, "{}"]


def replay_every_entry(client, reference: Path) -> list[str]:
    """Each entry's end-to-end test vectors (from the wheel's own reference set) through ``client``, matched."""
    from onnx import TensorProto, numpy_helper

    def read(path: Path) -> tuple[str, np.ndarray]:
        tensor = TensorProto()
        tensor.ParseFromString(path.read_bytes())
        return tensor.name, numpy_helper.to_array(tensor)

    replayed = []
    for vectors in sorted(reference.glob("*/end_to_end/test_data_set_0")):
        name = vectors.parent.parent.name
        input_name, raw = read(vectors / "input_0.pb")
        request = httpclient.InferInput(input_name, list(raw.shape), httpclient.np_to_triton_dtype(raw.dtype))
        request.set_data_from_numpy(raw)
        result = client.infer(name, [request])
        for path in sorted(vectors.glob("output_*.pb")):
            output_name, expected = read(path)
            np.testing.assert_allclose(result.as_numpy(output_name), expected, rtol=1e-4, atol=1e-5,
                                       err_msg=f"{name} {output_name}")
        replayed.append(name)
    return replayed
