"""Building a reference set: a plugin's entries trained with ``zoo run``'s own path, ready to ship.

    zoo reference wine --dest zoo_wine/reference          # a plugin's set, to package with it
    python -m zoo.reference --data-dir ../shared/datasets  # zoo's own set (reference/ in the source tree)

trains every entry of the plugin's distribution into a fresh folder, keeps each model without its
optimizer state (the weights are what users load), records the files in ``manifest.json``, writes the
leaderboard, and only then replaces ``dest`` whole. A failed entry stops it before anything is replaced.
The plugin declares the folder (``zoo.ReferenceSet``) and ships it as package data.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from zoo import files
from zoo.errors import ZooError
from zoo.exports.manifest import update_manifest
from zoo.registry import Registry

SOURCE_FOLDER = Path(__file__).resolve().parent.parent / "reference"
KEPT = ("model.onnx", "model.keras", "report.json", "report.md", "report.html", "plots", "test_data_set_0",
        "end_to_end")
BUILTIN = "zoo"  # the distribution whose set python -m zoo.reference builds


def entries_of(registry: Registry, plugin: str | None) -> list[str]:
    """The models every plugin of ``plugin``'s distribution registers (None: zoo's own)."""
    package = BUILTIN if plugin is None else registry.plugin(plugin).package
    names = [spec.name for spec in registry.list_models()
             if registry.plugins[registry.owner(spec)].package == package
             and (package is not None or registry.owner(spec) == plugin)]
    if not names:
        raise ZooError(f"plugin {plugin!r} registers no models, so it has no reference set to build")
    return names


def build_reference(dest: Path, data_dir: str | None, seeds: int | tuple[int, ...] = 0, *, plugin: str | None = None,
                    epochs: int | None = None, benchmarks: Path = Path("benchmarks/results"),
                    jobs: int | None = None) -> list[str]:
    """Train every entry of ``plugin``'s distribution (None: zoo's own) into a staging folder, then make it
    ``dest``; returns the entries. ``epochs`` overrides each entry's, for a quick set on small data. With several
    ``seeds`` each entry's kept run is the first seed's, its report holding the spread over all of them
    (``zoo.seeds``, ``jobs`` training at once)."""
    from zoo.plugins import load_registry
    from zoo.report import read_report
    from zoo.run import RunOptions, load_saved_model, run_model, save_model
    from zoo.seeds import other_seeds
    from zoo.web.leaderboard import write_leaderboard

    seeds = (seeds,) if isinstance(seeds, int) else tuple(seeds)
    shared = [*(["--epochs", str(epochs)] if epochs else []), *(["--data-dir", str(data_dir)] if data_dir else [])]

    registry = load_registry()
    names = entries_of(registry, plugin)
    dest = Path(dest).resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".reference.", dir=dest.parent) as tmp:
        out = Path(tmp) / "out"
        for name in names:
            with other_seeds(name, seeds, shared, jobs) as others:
                run = run_model(name, RunOptions(seed=seeds[0], epochs=epochs, data_dir=data_dir, out=out, verbose=2,
                                                 other_seeds=others), registry)
            if (run.report.get("seeds") or {}).get("failed"):
                raise ZooError(f"{name}: seeds failed ({run.report['seeds']['failed']}); nothing replaced in {dest}")
            if "file" not in run.report.get("onnx", {}):
                raise ZooError(f"{name}: no ONNX export ({run.report.get('onnx')}); nothing replaced in {dest}")
            # Without the optimizer's state: a third of the size.
            save_model(load_saved_model(run.folder / "model.keras", f"run 'zoo run {name}'", compile=False,
                                        spec=run.spec), run.folder / "model.keras")
        with files.staged_folder(dest) as staging:
            for name in names:
                (staging / name).mkdir()
                for item in KEPT:
                    source = out / name / item
                    (shutil.copytree if source.is_dir() else shutil.copy2)(source, staging / name / item)
                update_manifest(staging / name, read_report(staging / name))
            if plugin is None:
                shutil.copy2(SOURCE_FOLDER / "__init__.py", staging / "__init__.py")  # the zoo_reference package
            write_leaderboard(staging, benchmarks)
    return names


def main(argv: list[str] | None = None) -> int:
    """``python -m zoo.reference``: regenerate zoo's own reference set in the source tree."""
    parser = argparse.ArgumentParser(prog="python -m zoo.reference", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder with mnist/ and fashion-mnist/ (default: $ZOO_DATA_DIR)")
    parser.add_argument("--dest", type=Path, default=SOURCE_FOLDER, help=f"(default: {SOURCE_FOLDER})")
    parser.add_argument("--seeds", default="0", help="the first is the run kept; the others give the spread "
                                                    "(default: 0; zoo's set: 0-4)")
    parser.add_argument("--jobs", type=int, help="training processes at once (default: one per two CPU cores)")
    args = parser.parse_args(argv)
    from zoo.seeds import parse_seeds

    names = build_reference(args.dest, args.data_dir, parse_seeds(args.seeds), jobs=args.jobs)
    print(f"reference set of {len(names)} entries written to {args.dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
