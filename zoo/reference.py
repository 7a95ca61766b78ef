"""Regenerating the reference set that ships with zoo (for zoo's maintainers).

    python -m zoo.reference --data-dir ../shared/datasets

trains every built-in entry on the full data with ``zoo run``'s own path, into a fresh folder,
keeps each model without its optimizer state (the weights are what users load), records the
files in ``manifest.json``, writes the leaderboard, and only then replaces ``reference/``
in the source tree whole. A failed entry stops it before anything is replaced.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from zoo import files
from zoo.exports.manifest import update_manifest

SOURCE_FOLDER = Path(__file__).resolve().parent.parent / "reference"
KEPT = ("model.onnx", "model.keras", "report.json", "report.md", "report.html", "plots", "test_data_set_0")


def build_reference(dest: Path, data_dir: str | None, seed: int = 0) -> list[str]:
    """Train every built-in entry into a staging folder, then make it ``dest``; returns the entries."""
    import keras

    from zoo.web.leaderboard import write_leaderboard
    from zoo.plugins import load_registry
    from zoo.report import read_report
    from zoo.run import RunOptions, run_model

    registry = load_registry()
    names = [spec.name for spec in registry.list_models() if registry.plugins[registry.owner(spec)].builtin]
    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix=".reference.", dir=dest.parent) as tmp:
        out = Path(tmp) / "out"
        for name in names:
            run = run_model(name, RunOptions(seed=seed, data_dir=data_dir, out=out, verbose=2), registry)
            if "file" not in run.report.get("onnx", {}):
                raise SystemExit(f"zoo.reference: {name}: no ONNX export ({run.report.get('onnx')}); nothing replaced")
            model = keras.saving.load_model(run.folder / "model.keras", safe_mode=True, compile=False)
            with files.atomic_path(run.folder / "model.keras") as tmp_model:
                model.save(tmp_model)  # without the optimizer's state: a third of the size
        with files.staged_folder(dest) as staging:
            for name in names:
                (staging / name).mkdir()
                for item in KEPT:
                    source = out / name / item
                    (shutil.copytree if source.is_dir() else shutil.copy2)(source, staging / name / item)
                update_manifest(staging / name, read_report(staging / name))
            shutil.copy2(SOURCE_FOLDER / "__init__.py", staging / "__init__.py")
            write_leaderboard(staging, Path("benchmarks/results"))
    return names


def main(argv: list[str] | None = None) -> int:
    """``python -m zoo.reference``: regenerate the reference set in the source tree."""
    parser = argparse.ArgumentParser(prog="python -m zoo.reference", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder with mnist/ and fashion-mnist/ (default: $ZOO_DATA_DIR)")
    parser.add_argument("--dest", type=Path, default=SOURCE_FOLDER, help=f"(default: {SOURCE_FOLDER})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = build_reference(args.dest, args.data_dir, args.seed)
    print(f"reference set of {len(names)} entries written to {args.dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
