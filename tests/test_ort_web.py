"""onnxruntime-web for a wheel-installed zoo: the pinned npm tarball, checked before use, two files kept."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from zoo.web import ort_web
from zoo.web.ort_web import ORT_FILES, OrtWebError, fetch_ort_web

REPO = Path(__file__).resolve().parent.parent


def test_the_pins_are_the_lock_files():
    lock = json.loads((REPO / "web" / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/onnxruntime-web"]
    assert (ort_web.ORT_VERSION, ort_web.ORT_INTEGRITY) == (pinned["version"], pinned["integrity"])
    assert ort_web.TARBALL_URL.endswith(f"onnxruntime-web-{pinned['version']}.tgz")


def tarball(tmp_path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    path = tmp_path / "ort.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(info)
    return path


def pin(monkeypatch, path: Path) -> None:
    """Serve ``path`` as the mirror and pin its own sha512, as the lock file pins the real tarball's."""
    monkeypatch.setenv(ort_web.URL_ENV, path.as_uri())
    digest = base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()
    monkeypatch.setattr(ort_web, "ORT_INTEGRITY", f"sha512-{digest}")


FILES = {f"package/dist/{name}": f"contents of {name}".encode() for name in ORT_FILES}


def test_a_checked_tarball_installs_only_the_two_files(tmp_path, monkeypatch):
    source = tarball(tmp_path, {**FILES, "package/dist/ort.webgpu.min.mjs": b"not needed", "package/package.json": b"{}"})
    pin(monkeypatch, source)
    dest = fetch_ort_web(tmp_path / "dist")
    assert sorted(p.name for p in dest.iterdir()) == sorted(ORT_FILES)
    assert all((dest / name).read_bytes() == FILES[f"package/dist/{name}"] for name in ORT_FILES)
    assert ort_web.has_files(dest)


def test_a_tarball_other_than_the_pinned_one_is_discarded_unread(tmp_path, monkeypatch):
    source = tarball(tmp_path, FILES)
    monkeypatch.setenv(ort_web.URL_ENV, source.as_uri())  # the real pin: this file is not that tarball
    with pytest.raises(OrtWebError, match="differs from onnxruntime-web 1.30.0's pinned integrity"):
        fetch_ort_web(tmp_path / "dist")
    assert not (tmp_path / "dist").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ort.tgz"]  # the download was removed too


@pytest.mark.parametrize("members, symlink, problem", [
    ({FILES_KEY: data for FILES_KEY, data in list(FILES.items())[:1]}, None, "lacks package/dist/"),
    ({list(FILES)[0]: b"x"}, list(FILES)[1], "is not a regular file"),
])
def test_a_pinned_tarball_missing_a_file_or_linking_installs_nothing(tmp_path, monkeypatch, members, symlink, problem):
    source = tarball(tmp_path, members, symlink)
    pin(monkeypatch, source)
    with pytest.raises(OrtWebError, match=problem):
        fetch_ort_web(tmp_path / "dist")
    assert not (tmp_path / "dist").exists()


def test_no_network_is_one_line_naming_the_ways_out(tmp_path, monkeypatch):
    monkeypatch.setenv(ort_web.URL_ENV, (tmp_path / "absent.tgz").as_uri())
    with pytest.raises(OrtWebError) as caught:
        fetch_ort_web(tmp_path / "dist")
    message = str(caught.value)
    assert "\n" not in message and ort_web.URL_ENV in message and "npm install --prefix" in message
