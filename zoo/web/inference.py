"""``zoo serve``'s models: one onnxruntime session per entry's end-to-end file, opened lazily, fed by a batcher.

``ModelPool`` maps an entry name to its ``Batcher``, opening ``<entry folder>/end_to_end/model.onnx`` on first
use (in a worker thread) and again when the file changes. A ``Batcher`` gathers the requests that arrive for
its model, up to ``max_batch`` samples or until ``wait`` seconds after the first one (no wait when no other
request is on its way), runs them as one batch in a worker thread (one batch in flight per model: the next
gathers meanwhile), and hands each request its rows. ``sizes`` keeps the last batches' sizes (samples,
requests) for tests and benchmarks. Only regular files reached with no symbolic link are opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import first_line
from zoo.exports.manifest import END_TO_END_FILE
from zoo.web import site_files
from zoo.web.oip import ORT_TYPES, OipError, Signature, TensorSpec

FOLDERS_TTL = 2.0  # seconds a look at the runs folder and reference sets serves requests (a new run shows after)


class ModelUnavailable(OipError):
    """The entry exists but has no usable end-to-end file."""


@dataclass
class LoadedModel:
    """An open end-to-end file: its session and signature, and the file's identity when it was opened."""

    signature: Signature
    session: Any
    stamp: tuple[int, int]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [spec.name for spec in self.signature.outputs]
        return dict(zip(names, self.session.run(names, inputs)))


def load_model(name: str, path: Path, stamp: tuple[int, int], parameters: dict[str, Any]) -> LoadedModel:
    """Open ``path`` with onnxruntime and read its signature; ModelUnavailable in one line when it cannot."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Idle intra-op threads sleep rather than spin: the server shares the cores with its event loop (and
    # other models' batches), which spinning threads would starve.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's errors share no base class
        raise ModelUnavailable(409, f"model '{name}': onnxruntime cannot open {path}: {first_line(exc)}; "
                                    f"re-export with 'zoo export {name}'") from None
    props = session.get_modelmeta().custom_metadata_map
    labels = _strings(props.get("class_names"))  # the classification extension's labels; none for regression
    bounds = _bounds(props.get("raw_input_range"))
    inputs = tuple(_spec(arg, bounds) for arg in session.get_inputs())
    outputs = tuple(_spec(arg) for arg in session.get_outputs())
    unknown = [s for s in inputs + outputs if s.dtype not in ORT_TYPES.values()]
    if unknown:
        raise ModelUnavailable(409, f"model '{name}': {unknown[0].name} is a {unknown[0].dtype} tensor, which the "
                                    "server does not take")
    shown = {"task": props.get("task", ""), "description": props.get("description", ""), **parameters}
    if labels:
        shown["class_names"] = json.dumps(list(labels))
    if _strings(props.get("target_names")):
        shown["target_names"] = json.dumps(list(_strings(props.get("target_names"))))
    if bounds:
        shown["raw_input_range"] = json.dumps(list(bounds))
    return LoadedModel(Signature(name, inputs, outputs, labels, shown), session, stamp)


def _spec(arg: Any, bounds: tuple[int, int] | None = None) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape)
    return TensorSpec(arg.name, ORT_TYPES.get(arg.type, arg.type), shape, bounds)


def _strings(text: str | None) -> tuple[str, ...]:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return ()
    return tuple(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else ()


def _bounds(text: str | None) -> tuple[int, int] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    ok = isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)
    return (value[0], value[1]) if ok else None


@dataclass
class _Pending:
    inputs: dict[str, np.ndarray]
    rows: int
    future: asyncio.Future


class Batcher:
    """Dynamic batching for one model: see the module docstring."""

    def __init__(self, model: LoadedModel, executor: ThreadPoolExecutor, max_batch: int, wait: float):
        self.model = model
        self.executor = executor
        self.max_batch = max_batch
        self.wait = wait
        self.sizes: deque[tuple[int, int]] = deque(maxlen=10_000)
        self._queue: deque[_Pending] = deque()
        self._arrived = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._arriving = 0

    @contextlib.contextmanager
    def arriving(self) -> Iterator[None]:
        """Around reading and checking a request: while any is, a batch waits for it (up to ``wait``);
        while none is, a batch runs at once, so a lone request never waits."""
        self._arriving += 1
        try:
            yield
        finally:
            self._arriving -= 1
            self._arrived.set()

    async def infer(self, inputs: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
        """The model's outputs for ``inputs`` (``rows`` samples), run in a batch with whatever else came."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(inputs, rows, future))
        self._arrived.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Run batches until the queue is empty (a new request starts another drain)."""
        loop = asyncio.get_running_loop()
        while self._queue:
            batch = [self._queue.popleft()]
            rows = batch[0].rows
            deadline = loop.time() + self.wait
            while rows < self.max_batch:
                if not self._queue:
                    left = deadline - loop.time()
                    if left <= 0 or not self._arriving:
                        break
                    self._arrived.clear()
                    try:
                        await asyncio.wait_for(self._arrived.wait(), left)
                    except TimeoutError:
                        break
                    continue
                if rows + self._queue[0].rows > self.max_batch:
                    break
                batch.append(self._queue.popleft())
                rows += batch[-1].rows
            batch = [p for p in batch if not p.future.done()]  # cancelled while it waited (the server stopping)
            if not batch:
                continue
            self.sizes.append((sum(p.rows for p in batch), len(batch)))
            try:
                results = await loop.run_in_executor(self.executor, self._run, batch)
            except Exception as exc:  # noqa: BLE001 - every request of the batch hears why
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            for pending, result in zip(batch, results):
                if pending.future.done():
                    continue
                if isinstance(result, Exception):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)

    def _run(self, batch: list[_Pending]) -> list[dict[str, np.ndarray] | Exception]:
        """One session run over the whole batch (in a worker thread); each request's rows of every output."""
        names = list(batch[0].inputs)
        try:
            joined = {n: batch[0].inputs[n] if len(batch) == 1 else np.concatenate([p.inputs[n] for p in batch])
                      for n in names}
            outputs = self.model.run(joined)
        except Exception as exc:  # noqa: BLE001 - a bad request in the batch: run each alone so only it fails
            if len(batch) == 1:
                return [self._refusal(exc)]
            return [self._alone(p) for p in batch]
        results, start = [], 0
        for pending in batch:
            results.append({k: v[start:start + pending.rows] for k, v in outputs.items()})
            start += pending.rows
        return results

    def _alone(self, pending: _Pending) -> dict[str, np.ndarray] | Exception:
        try:
            return self.model.run(pending.inputs)
        except Exception as exc:  # noqa: BLE001
            return self._refusal(exc)

    def _refusal(self, exc: Exception) -> OipError:
        return OipError(400, f"model '{self.model.signature.name}' cannot run this input: {first_line(exc)}")


class ModelPool:
    """Every entry's model, by name, opened lazily (see the module docstring)."""

    def __init__(self, folders: Callable[[], dict[str, Path]], sources: Callable[[Path], str],
                 max_batch: int, wait_ms: float, threads: int | None = None):
        self.folders = folders
        self.sources = sources
        self.max_batch = max_batch
        self.wait = wait_ms / 1000
        self.executor = ThreadPoolExecutor(threads or max(2, os.cpu_count() or 2), thread_name_prefix="zoo-infer")
        self.batchers: dict[str, Batcher] = {}
        self._opening: dict[str, asyncio.Future] = {}
        self._folders: tuple[float, dict[str, Path]] | None = None

    def names(self) -> dict[str, Path]:
        """Every entry's folder, looked up again when the last look is over ``FOLDERS_TTL`` seconds old."""
        now = time.monotonic()
        if self._folders is None or now - self._folders[0] > FOLDERS_TTL:
            self._folders = (now, self.folders())
        return self._folders[1]

    def model_file(self, name: str) -> Path:
        """The entry's end-to-end file; OipError 404 for an unknown entry, ModelUnavailable without the file."""
        folder = self.names().get(name)
        if folder is None:
            raise OipError(404, f"no model named {name!r}; GET /v2/repository/index lists them")
        path = site_files.regular_file(folder, END_TO_END_FILE)
        if path is None:
            raise ModelUnavailable(400, f"model '{name}' is not ready: its export in {folder} has no "
                                        f"{END_TO_END_FILE} (an older export); re-export with "
                                        f"'zoo export {name}'")
        return path

    async def batcher(self, name: str) -> Batcher:
        """The entry's batcher, its model opened (again, if the file changed since) in a worker thread."""
        path = self.model_file(name)
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        current = self.batchers.get(name)
        if current is not None and current.model.stamp == stamp:
            return current
        opening = self._opening.get(name)
        if opening is None or opening.done():
            parameters = {"source": self.sources(path.parent.parent)}
            opening = asyncio.get_running_loop().run_in_executor(self.executor, load_model, name, path, stamp,
                                                                 parameters)
            self._opening[name] = opening
        model = await asyncio.shield(opening)
        current = self.batchers.get(name)
        if current is None or current.model.stamp != model.stamp:
            self.batchers[name] = current = Batcher(model, self.executor, self.max_batch, self.wait)
        return current

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
