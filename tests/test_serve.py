"""``zoo serve`` as a command: its start-up lines, its options, and how it stops (SIGINT 130, SIGTERM 143),
also with a client hanging mid-request. The protocol itself: test_serve_oip.py; the page: test_playground.py."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from test_serve_oip import digits_model
from zoo.exports.manifest import END_TO_END_FILE
from zoo.web import site_files


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    """A runs folder with one end-to-end entry and one older export; a stand-in onnxruntime-web folder."""
    ort_dir = tmp_path / "ort"
    ort_dir.mkdir()
    for name in site_files.ORT_FILES:
        (ort_dir / name).write_bytes(b"stand-in")
    monkeypatch.setenv(site_files.ORT_ENV, str(ort_dir))
    out = tmp_path / "runs"
    for name in ("digits", "old"):
        (out / name).mkdir(parents=True)
        (out / name / site_files.ONNX_FILE).write_bytes(b"stand-in")
    digits_model(out / "digits" / END_TO_END_FILE)
    return out


def started(*args: str) -> tuple[subprocess.Popen, str, list[str]]:
    """``zoo serve ARGS`` started; the process, its URL and its first three lines."""
    process = subprocess.Popen([sys.executable, "-m", "zoo", "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    lines = [process.stdout.readline() for _ in range(3)]
    assert lines[0].startswith("zoo: playground at http://127.0.0.1:"), lines + [process.stderr.read()]
    return process, lines[0].split()[3], lines


def stop(process: subprocess.Popen, signum: int) -> tuple[str, float]:
    begun = time.monotonic()
    process.send_signal(signum)
    try:
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return stderr, time.monotonic() - begun


def test_serve_says_where_the_api_is_and_stops_with_143_on_sigterm(runs):
    process, url, lines = started("--out", str(runs), "--max-batch-size", "8", "--batch-wait-ms", "0")
    try:
        # digits and the reference set's entries are ready, old is not
        assert lines[2].startswith(f"zoo: inference API (Open Inference Protocol v2) at {url}v2: "), lines
        assert lines[2].endswith(" entries ready (the others need exporting again: zoo export NAME)\n"), lines
        body = json.dumps({"inputs": [{"name": "pixels", "shape": [1, 4, 4], "datatype": "UINT8",
                                       "data": [0] * 16}]}).encode()
        reply = json.load(urllib.request.urlopen(urllib.request.Request(url + "v2/models/digits/infer", body),
                                                 timeout=10))
        assert [o["name"] for o in reply["outputs"]] == ["probabilities", "class"]
    finally:
        stderr, _ = stop(process, signal.SIGTERM)
    assert process.returncode == 143 and stderr == "zoo: playground stopped\n"


def test_ctrl_c_stops_it_promptly_while_a_client_hangs_mid_request(runs):
    process, url, _ = started("--out", str(runs))
    port = int(url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port)) as hanging:
        hanging.sendall(b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99\r\n\r\n{")
        time.sleep(0.3)
        stderr, seconds = stop(process, signal.SIGINT)
    assert process.returncode == 130 and stderr == "zoo: playground stopped\n"
    assert seconds < 5, seconds


def test_allow_host_adds_a_name_and_others_stay_refused(runs):
    process, url, _ = started("--out", str(runs), "--allow-host", "zoo.internal")
    try:
        def status(host: str) -> int:
            request = urllib.request.Request(url + "v2/health/live", headers={"Host": host})
            try:
                return urllib.request.urlopen(request, timeout=10).status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert [status(h) for h in ("zoo.internal", "localhost", "elsewhere.example")] == [200, 200, 400]
    finally:
        stop(process, signal.SIGINT)


def test_bad_option_values_are_one_line():
    for option, value in (("--batch-wait-ms", "-1"), ("--max-batch-size", "0"), ("--request-timeout", "nan")):
        result = subprocess.run([sys.executable, "-m", "zoo", "serve", option, value], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 2 and f"argument {option}: must be" in result.stderr, result.stderr
