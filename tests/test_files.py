"""Atomic files and staged folders: readers see the old version or the complete new one."""

import os

import pytest

from zoo import files


def test_atomic_path_renames_on_success_and_cleans_up_on_failure(tmp_path):
    dest = tmp_path / "out" / "model.keras"
    with files.atomic_path(dest) as tmp:
        assert tmp.suffix == ".keras" and tmp.parent == dest.parent
        tmp.write_text("new")
    assert dest.read_text() == "new"
    with pytest.raises(RuntimeError):
        with files.atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert dest.read_text() == "new"
    assert os.listdir(dest.parent) == ["model.keras"]


def test_staged_folder_replaces_whole_or_not_at_all(tmp_path):
    dest = tmp_path / "entry"
    with files.staged_folder(dest) as stage:
        (stage / "a.txt").write_text("1")
    assert [p.name for p in dest.iterdir()] == ["a.txt"]
    with pytest.raises(KeyboardInterrupt):
        with files.staged_folder(dest) as stage:
            (stage / "b.txt").write_text("2")
            raise KeyboardInterrupt
    assert [p.name for p in dest.iterdir()] == ["a.txt"]
    assert os.listdir(tmp_path) == ["entry"]
    with files.staged_folder(dest, copy_existing=True) as stage:
        (stage / "c.txt").write_text("3")
    assert sorted(p.name for p in dest.iterdir()) == ["a.txt", "c.txt"]


def test_recover_after_crash_between_renames(tmp_path):
    dest = tmp_path / "entry"
    previous = tmp_path / ".entry.previous"
    previous.mkdir()
    (previous / "report.json").write_text("{}")
    files.recover(dest)  # the crash left only the previous folder: it is put back
    assert (dest / "report.json").exists() and not previous.exists()
    previous.mkdir()
    files.recover(dest)  # both exist: the swap had completed, the leftover goes
    assert not previous.exists() and dest.exists()


def test_write_json_refuses_nan(tmp_path):
    with pytest.raises(ValueError):
        files.write_json(tmp_path / "r.json", {"loss": float("nan")})
    assert not list(tmp_path.iterdir())


def test_written_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        files.write_text(tmp_path / "a.txt", "x")
        with files.staged_folder(tmp_path / "entry") as stage:
            files.write_text(stage / "b.txt", "y")
    finally:
        os.umask(mask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "entry").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "entry" / "b.txt").stat().st_mode & 0o777 == 0o644
