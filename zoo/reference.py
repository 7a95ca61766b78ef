"""Building a reference set: a plugin's entries trained with ``zoo run``'s own path, ready to ship.

    zoo reference wine --dest zoo_wine/reference          # a plugin's set, to package with it
    python -m zoo.reference --data-dir ../shared/datasets  # zoo's own set (reference/ in the source tree)

trains every entry of the plugin's distribution into a fresh folder, keeps each model without its
optimizer state (the weights are what users load), records the files in ``manifest.json``, writes the
leaderboard, and only then replaces ``dest`` whole. A failed entry stops it before anything is replaced.
The plugin declares the folder (``zoo.ReferenceSet``) and ships it as package data.

Each entry trains under the Keras backend ``zoo run`` would choose for it (``--backend``, default ``auto``:
zoo.backend_choice), so the set holds what users get: entries for this process's backend train here, the
others in a child ``zoo run NAME --backend B`` with the same options (Keras fixes its backend per process).
Every report records ``environment.backend_choice``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from zoo import files
from zoo.backend_choice import Choice
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
                    jobs: int | None = None, backend: str = "auto", precision: str = "auto") -> list[str]:
    """Train every entry of ``plugin``'s distribution (None: zoo's own) into a staging folder, then make it
    ``dest``; returns the entries. ``epochs`` overrides each entry's, for a quick set on small data. With several
    ``seeds`` each entry's kept run is the first seed's, its report holding the spread over all of them
    (``zoo.seeds``, ``jobs`` training at once). ``backend`` chooses each entry's Keras backend as
    ``zoo run --backend`` does (and ``precision`` its precision, as ``--precision``); an entry chosen for another
    backend than this process's trains in a child."""
    from zoo.backend_choice import configured_backend
    from zoo.plugins import load_registry
    from zoo.run import load_saved_model, save_model
    from zoo.web.leaderboard import write_leaderboard

    seeds = (seeds,) if isinstance(seeds, int) else tuple(seeds)
    registry = load_registry()
    names = entries_of(registry, plugin)
    here = configured_backend()
    choices = _choices(names, backend, here, precision)  # before anything trains: a backend that is not installed fails here
    dest = Path(dest).resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".reference.", dir=dest.parent) as tmp:
        out = Path(tmp) / "out"
        for name in names:
            train = _train_here if choices[name].backend == here else _train_in_child
            report = train(name, choices[name], out, registry, data_dir=data_dir, seeds=seeds, epochs=epochs,
                           jobs=jobs)
            _check(name, report, dest)
            # Without the optimizer's state: a third of the size. Keras' saved models load under any backend.
            save_model(load_saved_model(out / name / "model.keras", f"run 'zoo run {name}'", compile=False,
                                        spec=registry.model(name)), out / name / "model.keras")
        with files.staged_folder(dest) as staging:
            for name in names:
                _stage(out / name, staging / name)
            if plugin is None:
                shutil.copy2(SOURCE_FOLDER / "__init__.py", staging / "__init__.py")  # the zoo_reference package
            write_leaderboard(staging, benchmarks)
    return names


def _choices(names: list[str], requested: str, here: str, precision: str = "auto") -> dict[str, Choice]:
    """Each entry's backend for ``--backend requested`` (``here``: this process's), with zoo run's notes on where
    each goes."""
    from zoo import backend_choice

    table = backend_choice.load_table()  # read once for all the entries
    device = backend_choice.device_kind()
    choices = {name: backend_choice.choose(name, requested, device, table=table, precision=precision)
               for name in names}
    for line in backend_choice.notes(choices, here):
        print(f"zoo: note: {line}", file=sys.stderr)
    return choices


def _train_here(name: str, choice: Choice, out: Path, registry: Registry, *, data_dir: str | None,
                seeds: tuple[int, ...], epochs: int | None, jobs: int | None) -> dict[str, Any]:
    """``name`` trained in this process into ``out/name``; its report."""
    from zoo.run import RunOptions, run_model
    from zoo.seeds import other_seeds

    # The other seeds' processes train under this one's backend, whatever auto would pick in theirs.
    shared = [*_options(data_dir, epochs), *choice.flags()]
    with other_seeds(name, seeds, shared, jobs) as others:
        run = run_model(name, RunOptions(seed=seeds[0], epochs=epochs, data_dir=data_dir, out=out, verbose=2,
                                         other_seeds=others, backend_choice=choice.record()), registry)
    return run.report


def _train_in_child(name: str, choice: Choice, out: Path, registry: Registry, *, data_dir: str | None,
                    seeds: tuple[int, ...], epochs: int | None, jobs: int | None) -> dict[str, Any]:
    """``name`` trained into ``out/name`` by a child ``zoo run`` under ``choice.backend``; its report."""
    from zoo.child_run import run_child
    from zoo.report import read_report

    seeding = (["--seeds", ",".join(map(str, seeds)), *(["--jobs", str(jobs)] if jobs else [])] if len(seeds) > 1
               else ["--seed", str(seeds[0])])
    argv = ["run", name, *choice.flags(), "--out", str(out), *seeding, *_options(data_dir, epochs)]
    code = run_child(argv, choice.backend, {name: choice})
    report = read_report(out / name) if code == 0 else None
    if report is None:
        raise ZooError(f"{name}: 'zoo run {name} --backend {choice.backend}' failed (exit code {code}, see above); "
                       "nothing replaced")
    return report


def _options(data_dir: str | None, epochs: int | None) -> list[str]:
    """The ``zoo run`` options every seed and child shares."""
    return [*(["--epochs", str(epochs)] if epochs else []), *(["--data-dir", str(data_dir)] if data_dir else [])]


def _check(name: str, report: dict[str, Any], dest: Path) -> None:
    """A run the set can ship: every seed trained, and exported to ONNX."""
    if (report.get("seeds") or {}).get("failed"):
        raise ZooError(f"{name}: seeds failed ({report['seeds']['failed']}); nothing replaced in {dest}")
    if "file" not in report.get("onnx", {}):
        raise ZooError(f"{name}: no ONNX export ({report.get('onnx')}); nothing replaced in {dest}")


def _stage(run: Path, entry: Path) -> None:
    """``run``'s files the set ships, copied into ``entry``, with its manifest."""
    from zoo.report import read_report

    entry.mkdir()
    for item in KEPT:
        source = run / item
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, entry / item)
    update_manifest(entry, read_report(entry))


def main(argv: list[str] | None = None) -> int:
    """``python -m zoo.reference``: regenerate zoo's own reference set in the source tree."""
    from zoo.backend_choice import REQUESTS
    from zoo.precision import REQUESTS as PRECISION_REQUESTS

    parser = argparse.ArgumentParser(prog="python -m zoo.reference", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder with mnist/ and fashion-mnist/ (default: $ZOO_DATA_DIR)")
    parser.add_argument("--dest", type=Path, default=SOURCE_FOLDER, help=f"(default: {SOURCE_FOLDER})")
    parser.add_argument("--seeds", default="0", help="the first is the run kept; the others give the spread "
                                                    "(default: 0; zoo's set: 0-4)")
    parser.add_argument("--jobs", type=int, help="training processes at once (default: one per two CPU cores)")
    parser.add_argument("--backend", choices=REQUESTS, default="auto",
                        help="Keras backend each entry trains under, as zoo run's --backend (default: auto, the "
                             "fastest measured per entry; a KERAS_BACKEND you set wins over auto)")
    parser.add_argument("--precision", choices=PRECISION_REQUESTS, default="auto",
                        help="what training computes in, as zoo run's --precision (default: auto)")
    args = parser.parse_args(argv)
    from zoo.seeds import parse_seeds

    try:
        names = build_reference(args.dest, args.data_dir, parse_seeds(args.seeds), jobs=args.jobs,
                                backend=args.backend, precision=args.precision)
    except ZooError as exc:
        print(f"python -m zoo.reference: error: {exc}", file=sys.stderr)
        return 1
    print(f"reference set of {len(names)} entries written to {args.dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
