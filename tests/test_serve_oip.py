"""``zoo serve``'s inference API (Open Inference Protocol v2) over real uvicorn, with the real Triton client.

The models are small end-to-end-style ONNX graphs built here with ``onnx.helper`` (raw input in, probabilities
and class, or y, out; ``class_names`` in the metadata), in a temporary runs folder beside an older export that
has no end-to-end file. The server runs in a thread of this process on a free port.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from zoo.exports.manifest import END_TO_END_FILE
from zoo.web import site_files
from zoo.web.serve import Limits, Site, make_server

tritonclient_http = pytest.importorskip("tritonclient.http")
LABELS = ["zero", "one", "two"]
TIMEOUT = 1.0  # the test server's request deadline, seconds


def digits_model(path: Path) -> None:
    """uint8 [N, 4, 4] pixels -> probabilities [N, 3] (softmax of a linear layer on pixels / 255), class [N]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = rng.normal(size=(16, 3)).astype(np.float32)
    nodes = [helper.make_node("Cast", ["pixels"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["f", "scale"], ["scaled"]),
             helper.make_node("Reshape", ["scaled", "shape"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
             helper.make_node("ArgMax", ["probabilities"], ["class"], axis=1, keepdims=0)]
    inits = [numpy_helper.from_array(np.float32(1 / 255), "scale"),
             numpy_helper.from_array(np.array([0, 16], np.int64), "shape"),
             numpy_helper.from_array(weights, "w")]
    graph = helper.make_graph(nodes, "digits", [helper.make_tensor_value_info("pixels", TensorProto.UINT8,
                                                                              ["batch", 4, 4])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3]),
                               helper.make_tensor_value_info("class", TensorProto.INT64, ["batch"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"task": "classification", "class_names": json.dumps(LABELS),
                                   "model_name": "digits", "end_to_end": "true"})
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)


def curve_model(path: Path) -> None:
    """float32 [N, 1] x -> y = 2x + 1, [N, 1]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Mul", ["x", "two"], ["twice"]), helper.make_node("Add", ["twice", "one"], ["y"])]
    graph = helper.make_graph(nodes, "curve", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
                              [numpy_helper.from_array(np.float32(2), "two"),
                               numpy_helper.from_array(np.float32(1), "one")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"task": "regression", "target_names": json.dumps(["y"]), "class_names": "[]"})
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """digits and curve with end-to-end files, old without, and traps: links out of the runs folder."""
    root = tmp_path_factory.mktemp("serve")
    out = root / "runs"
    for name in ("digits", "curve", "old"):
        (out / name).mkdir(parents=True)
        (out / name / site_files.ONNX_FILE).write_bytes(b"stand-in")  # the playground's file; unused here
    digits_model(out / "digits" / END_TO_END_FILE)
    curve_model(out / "curve" / END_TO_END_FILE)
    secret = root / "secret"
    secret.mkdir()
    (secret / "report.html").write_text("not for the web")
    (secret / site_files.ONNX_FILE).write_text("not for the web")
    digits_model(secret / END_TO_END_FILE)
    os.symlink(secret / "report.html", out / "digits" / "report.html")  # a file link
    os.symlink(secret, out / "linked")  # an entry folder that is a link
    (out / "halfway" / "end_to_end").mkdir(parents=True)
    (out / "halfway" / site_files.ONNX_FILE).write_bytes(b"stand-in")
    os.symlink(secret / END_TO_END_FILE, out / "halfway" / END_TO_END_FILE)
    return out


@pytest.fixture(scope="module")
def server(runs, tmp_path_factory):
    """The server over ``runs`` (an empty reference set) in a thread; yields it (``.url``, ``.pool``)."""
    ort_dir = tmp_path_factory.mktemp("ort")
    for name in site_files.ORT_FILES:
        (ort_dir / name).write_bytes(b"stand-in")
    site = Site(runs, ort_dir, reference=tmp_path_factory.mktemp("no-reference"))
    running = make_server(site, "127.0.0.1", 0, Limits(request_timeout=TIMEOUT, batch_wait_ms=20, max_batch=64,
                                                      max_body=1_000_000, max_bodies=1_500_000))
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    running.url = f"127.0.0.1:{running.server_address[1]}"
    yield running
    running.shutdown()
    running.server_close()
    thread.join(10)


@pytest.fixture
def client(server):
    with tritonclient_http.InferenceServerClient(server.url, connection_timeout=10, network_timeout=10) as c:
        yield c


def call(server, method: str, path: str, body: bytes | str | None = None, headers: dict | None = None
         ) -> tuple[int, dict]:
    """One request on a fresh connection: the status and the JSON reply."""
    connection = http.client.HTTPConnection(server.url, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else {}
    finally:
        connection.close()


def infer(server, model: str, body: object) -> tuple[int, dict]:
    return call(server, "POST", f"/v2/models/{model}/infer", json.dumps(body) if not isinstance(body, (bytes, str))
                else body, {"Content-Type": "application/json"})


def pixels(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 4, 4), dtype=np.uint8)


def in_process(runs: Path, name: str, feed: dict) -> list[np.ndarray]:
    import onnxruntime as ort

    return ort.InferenceSession(str(runs / name / END_TO_END_FILE),
                                providers=["CPUExecutionProvider"]).run(None, feed)


def triton_input(name: str, array: np.ndarray, datatype: str):
    tensor = tritonclient_http.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=False)
    return tensor


# --- the protocol --------------------------------------------------------------------------------------------------


def test_health_server_metadata_and_index(client):
    assert client.is_server_live() and client.is_server_ready()
    metadata = client.get_server_metadata()
    assert metadata["name"] == "zoo" and "classification" in metadata["extensions"]
    index = {m["name"]: m for m in client.get_model_repository_index()}
    assert {index[n]["state"] for n in ("digits", "curve")} == {"READY"}
    assert index["old"]["state"] == "UNAVAILABLE" and "zoo export old" in index["old"]["reason"]


def test_model_metadata_names_types_shapes_and_labels(client):
    metadata = client.get_model_metadata("digits")
    assert metadata["name"] == "digits" and metadata["versions"] == ["1"] and metadata["platform"] == "onnxruntime_onnx"
    assert metadata["inputs"] == [{"name": "pixels", "datatype": "UINT8", "shape": [-1, 4, 4]}]
    assert metadata["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
                                   {"name": "class", "datatype": "INT64", "shape": [-1]}]
    assert json.loads(metadata["parameters"]["class_names"]) == LABELS
    assert metadata["parameters"]["task"] == "classification" and metadata["parameters"]["source"] == "your run"
    curve = client.get_model_metadata("curve")
    assert curve["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 1]}]
    assert json.loads(curve["parameters"]["target_names"]) == ["y"]
    assert client.is_model_ready("digits") and client.is_model_ready("digits", "1")


def test_inference_matches_onnxruntime_in_process(client, runs):
    raw = pixels(5)
    result = client.infer("digits", [triton_input("pixels", raw, "UINT8")], request_id="req-7")
    expected = in_process(runs, "digits", {"pixels": raw})
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected[0])  # float32 round-trips JSON exactly
    np.testing.assert_array_equal(result.as_numpy("class"), expected[1])
    assert result.get_response()["id"] == "req-7"
    x = np.array([[0.5], [-3.25], [1e6]], np.float32)
    y = client.infer("curve", [triton_input("x", x, "FP32")]).as_numpy("y")
    np.testing.assert_array_equal(y, in_process(runs, "curve", {"x": x})[0])


def test_classification_extension_gives_score_index_label(client, runs):
    raw = pixels(4, seed=2)
    outputs = [tritonclient_http.InferRequestedOutput("probabilities", binary_data=False, class_count=2)]
    result = client.infer("digits", [triton_input("pixels", raw, "UINT8")], outputs=outputs)
    strings = result.as_numpy("probabilities")
    assert strings.shape == (4, 2)
    probabilities = in_process(runs, "digits", {"pixels": raw})[0]
    for row, got in zip(probabilities, strings):
        best = np.argsort(-row, kind="stable")[:2]
        assert [s.decode() if isinstance(s, bytes) else s for s in got] == \
            [f"{row[i]:f}:{i}:{LABELS[i]}" for i in best]
    assert [o["name"] for o in result.get_response()["outputs"]] == ["probabilities"]  # only what was asked


def test_an_older_export_is_listed_but_not_ready_and_says_how_to_fix_it(client, server):
    assert not client.is_model_ready("old")
    status, reply = infer(server, "old", {"inputs": []})
    assert status == 400 and "re-export with 'zoo export old'" in reply["error"]
    status, reply = call(server, "GET", "/v2/models/old")
    assert status == 400 and "zoo export old" in reply["error"]


def good(**change) -> dict:
    tensor = {"name": "pixels", "shape": [1, 4, 4], "datatype": "UINT8", "data": [7] * 16}
    tensor.update(change)
    return {"inputs": [tensor]}


BAD = [
    ("nobody", good(), 404, "no model named 'nobody'"),
    ("digits", good(name="image"), 400, "has no input 'image'; its input is 'pixels'"),
    ("digits", good(shape=[1, 16]), 400, "has shape [1, 16]; the model takes [N, 4, 4]"),
    ("digits", good(shape=[0, 4, 4], data=[]), 400, "at least one sample"),
    ("digits", good(datatype="FP32"), 400, "has datatype 'FP32'; the model takes UINT8"),
    ("digits", good(data=[7] * 15), 400, "has 15 values; shape [1, 4, 4] needs 16"),
    ("digits", good(data=[256] + [0] * 15), 400, "values from 0 to 256; UINT8 holds whole numbers from 0 to 255"),
    ("digits", good(data=[-1] + [0] * 15), 400, "from 0 to 255"),
    ("digits", good(data=[1.5] + [0] * 15), 400, "not whole numbers"),
    ("digits", good(data=["7"] * 16), 400, "must hold numbers only (found strings)"),
    ("digits", good(data=[[7] * 15, [7]]), 400, "nested evenly"),
    ("digits", good(data=[2 ** 80] * 16), 400, "too large for UINT8"),
    ("digits", '{"inputs": [{"name": "pixels", "shape": [1, 4, 4], "datatype": "UINT8", "data": [NaN' + ', 0' * 15
     + ']}]}', 400, "non-finite"),
    ("curve", '{"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [Infinity]}]}', 400,
     "non-finite"),
    ("curve", {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1e300]}]}, 400,
     "beyond the largest FP32"),
    ("curve", {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [3e38]}]}, 400,
     "output 'y' is not finite"),
    ("digits", '{"inputs": [', 400, "not JSON"),
    ("digits", b"\xff\xfe", 400, "not JSON"),
    ("digits", [1, 2], 400, "JSON object"),
    ("digits", {"inputs": []}, 400, "\"inputs\" list"),
    ("digits", {**good(), "outputs": [{"name": "logits"}]}, 400, "has no output 'logits'"),
    ("digits", {**good(), "outputs": [{"name": "class", "parameters": {"classification": 2}}]}, 400,
     "applies to 'probabilities'"),
    ("curve", {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1]}],
               "outputs": [{"name": "y", "parameters": {"classification": 1}}]}, 400, "no output of this model"),
    ("digits", {**good(), "id": 5}, 400, "\"id\" must be a string"),
    ("digits", good(parameters={"binary_data_size": 16}), 400, "no Inference-Header-Content-Length header"),
    ("digits", "[" * 100_000 + "]" * 100_000, 400, "nests too deeply"),
    ("digits", good(data=[100] * 300_000), 413, "larger than 1,000,000 bytes"),
]


@pytest.mark.parametrize("model, body, status, message", BAD, ids=[b[3][:30] for b in BAD])
def test_a_bad_request_gets_a_4xx_naming_the_problem(server, model, body, status, message):
    got, reply = infer(server, model, body)
    assert (got, message in reply.get("error", "")) == (status, True), reply


def test_a_body_sent_in_chunks_is_cut_off_at_the_limit_too(server):
    """No Content-Length to refuse up front: the server stops keeping the body at the limit, answers 413 and
    drops the rest as it comes."""
    chunk = b"%x\r\n%s\r\n" % (100_000, b"0" * 100_000)
    received = b""
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as sock:
        sock.sendall(b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
        for _ in range(40):
            sock.sendall(chunk)
        sock.sendall(b"0\r\n\r\n")
        while b"larger than" not in received and (data := sock.recv(65536)):
            received += data
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # the same connection
        while b"live" not in received.split(b"larger than")[-1] and (data := sock.recv(65536)):
            received += data
    assert received.startswith(b"HTTP/1.1 413 ") and b"HTTP/1.1 200 " in received, received[:400]
    assert call(server, "GET", "/v2/health/live") == (200, {"live": True})


def test_after_bad_requests_the_server_still_answers(client, server):
    for _, body, _, _ in BAD[:6]:
        infer(server, "digits", body)
    status, _ = call(server, "POST", "/v2/models/digits/infer", b"{}",
                     {"Inference-Header-Content-Length": "2", "Content-Type": "application/octet-stream"})
    assert status == 400
    assert call(server, "GET", "/v2/nothing")[0] == 404
    assert call(server, "DELETE", "/v2/models/digits/infer")[0] in (404, 405)
    assert client.infer("digits", [triton_input("pixels", pixels(1), "UINT8")]).as_numpy("class").shape == (1,)


def test_binary_tensor_data_as_tritonclient_sends_it_by_default(client, runs):
    raw = pixels(6, seed=3)
    tensor = tritonclient_http.InferInput("pixels", list(raw.shape), "UINT8")
    tensor.set_data_from_numpy(raw)  # binary_data=True; no outputs named: all come back in binary
    result = client.infer("digits", [tensor])
    expected = in_process(runs, "digits", {"pixels": raw})
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected[0])
    np.testing.assert_array_equal(result.as_numpy("class"), expected[1])
    assert all("binary_data_size" in o["parameters"] for o in result.get_response()["outputs"])
    top = tritonclient_http.InferRequestedOutput("probabilities", class_count=1)  # binary BYTES strings
    strings = client.infer("digits", [tensor], outputs=[top]).as_numpy("probabilities")
    assert [s[0].decode().split(":")[1] for s in strings] == [str(c) for c in expected[1]]
    x = np.array([[3e38], [np.float32(1.5)]], np.float32)  # 2x + 1 overflows: binary carries the inf
    curve = tritonclient_http.InferInput("x", [2, 1], "FP32")
    curve.set_data_from_numpy(x)
    assert client.infer("curve", [curve]).as_numpy("y").ravel().tolist() == [np.inf, 4.0]


def binary_request(server, model: str, header: dict, data: bytes, length: int | None = None) -> tuple[int, dict]:
    text = json.dumps(header).encode()
    return call(server, "POST", f"/v2/models/{model}/infer", text + data,
                {"Inference-Header-Content-Length": str(len(text) if length is None else length),
                 "Content-Type": "application/octet-stream"})


def binary_input(size: int = 16, name: str = "pixels", shape=(1, 4, 4), datatype: str = "UINT8") -> dict:
    return {"inputs": [{"name": name, "shape": list(shape), "datatype": datatype,
                        "parameters": {"binary_data_size": size}}]}


@pytest.mark.parametrize("model, header, data, length, message", [
    ("digits", binary_input(), bytes(16), 10 ** 6, "not a length within the"),
    ("digits", binary_input(), bytes(16), -1, "not a length within the"),
    ("digits", binary_input(15), bytes(15), None, "needs 16 bytes"),
    ("digits", binary_input(), bytes(10), None, "ends 6 bytes short"),
    ("digits", binary_input(), bytes(20), None, "binary_data_size add up to 16"),
    ("digits", {"inputs": [{**binary_input()["inputs"][0], "data": [0] * 16}]}, bytes(16), None, "both"),
    ("curve", binary_input(4, "x", (1, 1), "FP32"), np.float32([np.nan]).tobytes(), None, "non-finite"),
    ("digits", {**binary_input(), "outputs": [{"name": "class", "parameters": {"binary_data": 1}}]}, bytes(16), None,
     "must be true or false"),
], ids=["past-end", "negative", "size", "short", "extra", "both", "nan", "flag"])
def test_bad_binary_tensor_data_gets_a_400(server, model, header, data, length, message):
    status, reply = binary_request(server, model, header, data, length)
    assert (status, message in reply.get("error", "")) == (400, True), reply


# --- limits ----------------------------------------------------------------------------------------------------------


def test_a_client_that_stops_halfway_blocks_nobody_and_is_disconnected(server):
    silent = socket.create_connection(("127.0.0.1", server.server_address[1]))
    half = socket.create_connection(("127.0.0.1", server.server_address[1]))
    body_half = socket.create_connection(("127.0.0.1", server.server_address[1]))
    try:
        half.sendall(b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        body_half.sendall(b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500\r\n"
                          b"Content-Type: application/json\r\n\r\n{\"inputs\": [")
        started = time.monotonic()
        assert call(server, "GET", "/v2/health/ready") == (200, {"ready": True})
        assert infer(server, "digits", good())[0] == 200
        assert time.monotonic() - started < TIMEOUT / 2  # answered while three clients hang
        for sock in (silent, half, body_half):
            sock.settimeout(TIMEOUT * 5)
            received = b""
            while chunk := sock.recv(4096):
                received += chunk
            assert received == b"" or received.startswith(b"HTTP/1.1 408 "), received  # then closed
        assert TIMEOUT * 0.9 < time.monotonic() - started < TIMEOUT * 4
    finally:
        for sock in (silent, half, body_half):
            sock.close()


def test_bodies_read_at_once_are_bounded_in_total(server):
    head = (b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 900000\r\n"
            b"Content-Type: application/json\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as first, \
            socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as second:
        first.sendall(head + b" " * 800_000)
        time.sleep(0.1)
        try:
            second.sendall(head + b" " * 800_000)  # 1.6 MB held in all, over the 1.5 MB budget
        except ConnectionError:
            pass
        reply = b""
        while b"try again soon" not in reply and (chunk := second.recv(4096)):
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 503 ") and b"try again soon" in reply, reply
    time.sleep(0.1)  # the first hung up: its bytes are released
    assert infer(server, "digits", good())[0] == 200


def test_two_hundred_parallel_requests_are_all_answered_fast(server):
    body = json.dumps(good())

    def one(i: int) -> int:
        if i % 2:
            return call(server, "GET", "/v2/health/ready")[0]
        return infer(server, "digits", body)[0]

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(200) as pool:
        statuses = list(pool.map(one, range(200)))
    seconds = time.monotonic() - started
    assert statuses == [200] * 200
    assert seconds < 5, seconds  # a listen backlog of 5 made this take 15 s


def test_concurrent_requests_are_batched(server):
    batcher = server.pool.batchers["digits"]
    batcher.sizes.clear()
    raws = [pixels(1, seed=i) for i in range(16)]
    barrier = threading.Barrier(16)

    def one(raw: np.ndarray) -> list[int]:
        body = json.dumps({"inputs": [{"name": "pixels", "shape": [1, 4, 4], "datatype": "UINT8",
                                       "data": raw.ravel().tolist()}]})
        barrier.wait()
        status, reply = infer(server, "digits", body)
        assert status == 200, reply
        return reply["outputs"][1]["data"]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        classes = list(pool.map(one, raws))
    expected = in_process(server.pool.folders()["digits"].parent, "digits", {"pixels": np.concatenate(raws)})[1]
    assert [c[0] for c in classes] == expected.tolist()  # each request got its own rows back
    sizes = list(batcher.sizes)
    assert sum(rows for rows, _ in sizes) == 16 and max(requests for _, requests in sizes) > 1, sizes


def test_a_foreign_host_header_is_refused(server):
    for path in ("/entries.json", "/v2/models/digits", "/"):
        status, body = call_raw_status(server, path, "attacker.example:8000")
        assert status == 400, path
        assert json.loads(body)["error"].startswith("this server does not answer for host 'attacker.example'"), body
    assert call_raw_status(server, "/v2/health/live", "")[0] == 400
    assert call_raw_status(server, "/entries.json", f"localhost:{server.server_address[1]}")[0] == 200
    assert call_raw_status(server, "/v2/health/live", "127.0.0.1")[0] == 200


def call_raw_status(server, path: str, host: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(server.url, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_symbolic_links_in_the_runs_folder_are_not_followed(server, client):
    assert call_raw_status(server, "/entries/digits/report.html", "127.0.0.1")[0] == 404  # a file link
    assert call_raw_status(server, "/entries/linked/model.onnx", "127.0.0.1")[0] == 404  # a folder link
    assert call_raw_status(server, "/entries/digits/model.onnx", "127.0.0.1") == (200, b"stand-in")
    for name in ("linked", "halfway"):  # their end-to-end files are reached through links
        assert not client.is_model_ready(name)
        assert infer(server, name, good())[0] == 400


# --- the reference set's end-to-end files ----------------------------------------------------------------------------


REFERENCE = Path(__file__).resolve().parent.parent / "reference"


@pytest.mark.skipif(not any(REFERENCE.glob("*/end_to_end/test_data_set_0/input_0.pb")),
                    reason="the reference set has no end-to-end exports yet")
def test_every_reference_entry_replays_its_end_to_end_vectors(tmp_path):
    from onnx import TensorProto, numpy_helper

    def tensor(path: Path) -> tuple[str, np.ndarray]:
        proto = TensorProto()
        proto.ParseFromString(path.read_bytes())
        return proto.name, numpy_helper.to_array(proto)

    ort_dir = tmp_path / "ort"
    ort_dir.mkdir()
    running = make_server(Site(None, ort_dir, reference=REFERENCE), "127.0.0.1", 0)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    checked = []
    try:
        with tritonclient_http.InferenceServerClient(f"127.0.0.1:{running.server_address[1]}") as c:
            for vectors in sorted(REFERENCE.glob("*/end_to_end/test_data_set_0")):
                name = vectors.parent.parent.name
                input_name, raw = tensor(vectors / "input_0.pb")
                datatype = c.get_model_metadata(name)["inputs"][0]["datatype"]
                result = c.infer(name, [triton_input(input_name, raw, datatype)])
                for path in sorted(vectors.glob("output_*.pb")):
                    output_name, expected = tensor(path)
                    got = result.as_numpy(output_name)
                    if expected.dtype.kind == "f":
                        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=f"{name} {output_name}")
                    else:
                        np.testing.assert_array_equal(got, expected, err_msg=f"{name} {output_name}")
                checked.append(name)
    finally:
        running.shutdown()
        running.server_close()
    assert {"mnist_cnn", "iris_mlp"} <= set(checked), checked


def test_host_names_lose_their_port_and_case():
    from zoo.web.app import host_name

    assert [host_name(h) for h in ("[::1]:8000", "[::1]", "Example.ORG:80", "127.0.0.1", "", "[::1")] == [
        "[::1]", "[::1]", "example.org", "127.0.0.1", "", "[::1"]
