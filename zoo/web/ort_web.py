"""onnxruntime-web for a zoo installed from a wheel: the pinned npm tarball, fetched once, checked, kept in the cache.

A source checkout gets the two files the playground loads from ``npm ci --prefix web`` (``web/package-lock.json``
pins them). A wheel has no ``web/`` folder and its user may have no Node, so ``zoo serve`` downloads the same
tarball the lock file pins from the npm registry (or ``$ZOO_ORT_WEB_URL``, a mirror), checks it against the lock
file's ``sha512`` integrity before reading anything in it, and keeps only those two files, under
``$ZOO_HOME/web/node_modules/onnxruntime-web/dist`` (written whole or not at all). A test checks these pins
against ``web/package-lock.json``.
"""

from __future__ import annotations

import base64
import os
import tarfile
import tempfile
from pathlib import Path

from zoo import files, locations
from zoo.errors import ZooError

ORT_VERSION = "1.30.0"
ORT_INTEGRITY = "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
TARBALL_URL = f"https://registry.npmjs.org/onnxruntime-web/-/onnxruntime-web-{ORT_VERSION}.tgz"
URL_ENV = "ZOO_ORT_WEB_URL"
ORT_DIST = Path("node_modules") / "onnxruntime-web" / "dist"
# onnxruntime-web's WebAssembly-only ES module (its Emscripten glue bundled in) and the one .wasm binary it runs:
# nothing of the WebGL, WebGPU or threaded builds.
ORT_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm")
MAX_FILE_BYTES = 64 << 20  # each of the two files is well under this; a larger member is not onnxruntime-web's


class OrtWebError(ZooError):
    """onnxruntime-web could not be fetched or failed its integrity check."""


def cache_folder() -> Path:
    """Where a fetched onnxruntime-web's two files live: ``$ZOO_HOME/web/node_modules/onnxruntime-web/dist``."""
    return locations.zoo_home() / "web" / ORT_DIST


def has_files(folder: Path) -> bool:
    """Whether ``folder`` holds both files the page loads."""
    return all((folder / name).is_file() for name in ORT_FILES)


def fetch_ort_web(dest: Path | None = None) -> Path:
    """Download the pinned onnxruntime-web, check its integrity, and install its two files in ``dest``; returns it."""
    from zoo.reference_download import download

    dest = Path(dest) if dest is not None else cache_folder()
    url = os.environ.get(URL_ENV) or TARBALL_URL
    algorithm, expected = ORT_INTEGRITY.split("-", 1)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=".download.", suffix=".tmp") as tarball:
        try:
            digest = download(url, tarball, algorithm)
        except ZooError as exc:
            raise OrtWebError(f"onnxruntime-web {ORT_VERSION} is not installed and {exc}; connect to the "
                              f"internet once, set {URL_ENV} to a mirror of that file, or run 'npm install --prefix "
                              f"{locations.zoo_home() / 'web'} onnxruntime-web@{ORT_VERSION}'") from exc
        actual = base64.b64encode(digest.digest()).decode()
        if actual != expected:
            raise OrtWebError(f"{url}: {algorithm} {actual[:16]}… differs from onnxruntime-web {ORT_VERSION}'s pinned "
                              f"integrity {expected[:16]}…; it was discarded (a wrong mirror in {URL_ENV}?)")
        with files.staged_folder(dest) as staging:
            _extract(Path(tarball.name), staging, url)
    return dest


def _extract(tarball: Path, into: Path, url: str) -> None:
    wanted = {f"package/dist/{name}": name for name in ORT_FILES}
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive.getmembers():
                name = wanted.pop(member.name, None)
                if name is None:
                    continue
                if not member.isfile() or member.size > MAX_FILE_BYTES:
                    raise OrtWebError(f"{url}: {member.name} is not a regular file of at most {MAX_FILE_BYTES:,} "
                                      "bytes")
                files.write_bytes(into / name, archive.extractfile(member).read())
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise OrtWebError(f"{url}: not a readable npm tarball ({exc})") from exc
    if wanted:
        raise OrtWebError(f"{url}: the tarball lacks {', '.join(sorted(wanted))}")
