"""A plugin's entry ships trained results as zoo's own do (``zoo.ReferenceSet``): listed, predicted and loaded with no
training, each entry checked against its set's manifest, a set that fails refused for its entries alone."""

import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import warnings
from pathlib import Path

import pytest

import zoo
from plugin_fakes import DatasetPlugin, ModelPlugin, source, tiny_model
from zoo.errors import ZooWarning
from zoo.plugins import build_registry
from zoo.reference_sets import cache_folder, reference_root, shipped_entries

WINE = Path(__file__).resolve().parent.parent / "examples" / "zoo-wine"
WINE_ROW = "13.2,1.78,2.14,11.2,100,2.65,2.76,0.26,1.28,4.38,1.05,3.4,1050\n"


class SetPlugin:
    """Declares one reference set."""

    def __init__(self, declared: zoo.ReferenceSet):
        self.declared = declared

    @zoo.hookimpl
    def register_reference_sets(self, register):
        register(self.declared)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    """A reference set of tiny_net and tiny_other, as `zoo run` lays out a runs folder (the same layout)."""
    from zoo.run import RunOptions, run_model

    root = tmp_path_factory.mktemp("tiny-set") / "reference"
    registry = build_registry([source("data", DatasetPlugin()),
                               source("net", ModelPlugin(tiny_model(), tiny_model("tiny_other")))])
    for name in ("tiny_net", "tiny_other"):
        run_model(name, RunOptions(epochs=1, out=root, verbose=0), registry)
    return root


def registry_with(declared: zoo.ReferenceSet, package: str = "fake-pkg"):
    return build_registry([source("data", DatasetPlugin(), package),
                           source("net", ModelPlugin(tiny_model(), tiny_model("tiny_other")), package),
                           source("shipped", SetPlugin(declared), package)])


def refusals(call) -> tuple[object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in caught if issubclass(w.category, ZooWarning)]


def test_a_plugins_set_serves_its_entries(tiny_set, tmp_path):
    registry = registry_with(zoo.ReferenceSet(folder=tiny_set))
    (root, problems) = refusals(lambda: reference_root("tiny_net", registry))
    assert root == tiny_set and problems == []
    assert sorted(shipped_entries(registry)) == ["tiny_net", "tiny_other"]


@pytest.mark.parametrize("damage, says", [
    (lambda s: (s / "tiny_net" / "model.onnx").write_bytes(b"tampered"),
     "has a tiny_net/model.onnx whose sha256 differs from its manifest's"),
    (lambda s: (s / "tiny_net" / "model.keras").unlink(), "lacks tiny_net/model.keras, which its manifest lists"),
])
def test_a_damaged_entry_is_refused_alone(tiny_set, tmp_path, damage, says):
    shipped = shutil.copytree(tiny_set, tmp_path / "set")
    damage(shipped)
    registry = registry_with(zoo.ReferenceSet(folder=shipped))
    (roots, problems) = refusals(lambda: (reference_root("tiny_net", registry),
                                          reference_root("tiny_other", registry)))
    assert roots == (None, shipped)  # the other entry of the same set still serves
    assert problems == [f"plugin 'shipped''s reference set {says}: its results for 'tiny_net' are not used; "
                        "reinstall fake-pkg"]


def test_a_manifest_from_a_newer_zoo_is_refused_and_an_older_one_loads(tiny_set, tmp_path):
    shipped = shutil.copytree(tiny_set, tmp_path / "set")
    manifest = json.loads((shipped / "manifest.json").read_text())
    (shipped / "manifest.json").write_text(json.dumps({**manifest, "schema": "zoo.manifest/9", "zoo_version": "9.0"}))
    (root, problems) = refusals(lambda: reference_root("tiny_net", registry_with(zoo.ReferenceSet(folder=shipped))))
    assert root is None and len(problems) == 1
    assert "written by zoo 9.0 in schema zoo.manifest/9, which this zoo" in problems[0] and "upgrade zoo" in problems[0]

    older = {k: v for k, v in manifest.items() if k != "zoo_version"}
    (shipped / "manifest.json").write_text(json.dumps({**older, "schema": "zoo.manifest/1"}))
    (root, problems) = refusals(lambda: reference_root("tiny_net", registry_with(zoo.ReferenceSet(folder=shipped))))
    assert root == shipped and problems == []


def test_results_for_an_entry_the_distribution_does_not_register_are_ignored(tiny_set):
    registry = build_registry([source("data", DatasetPlugin(), "pkg-a"), source("net", ModelPlugin(), "pkg-a"),
                               source("other", ModelPlugin(tiny_model("tiny_other")), "pkg-b"),
                               source("shipped", SetPlugin(zoo.ReferenceSet(folder=tiny_set)), "pkg-a")])
    (roots, problems) = refusals(lambda: (reference_root("tiny_net", registry),
                                          reference_root("tiny_other", registry)))
    assert roots == (tiny_set, None)
    assert problems == ["plugin 'shipped''s reference set holds results for 'tiny_other', which pkg-a does not "
                        "register: they are not used; rebuild the set with 'zoo reference PLUGIN --dest DIR'"]


def test_a_reference_set_record_is_checked():
    with pytest.raises(zoo.InvalidSpecError, match="exactly one of folder"):
        zoo.ReferenceSet()
    with pytest.raises(zoo.InvalidSpecError, match="without sha256"):
        zoo.ReferenceSet(url="http://127.0.0.1/set.tar.gz")


@pytest.fixture
def archive_server(tiny_set, tmp_path):
    """The tiny set as a .tar.gz served on 127.0.0.1; yields (url, sha256, stop)."""
    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(served / "set.tar.gz", "w:gz") as t:
        t.add(tiny_set, arcname="reference")
    digest = hashlib.sha256((served / "set.tar.gz").read_bytes()).hexdigest()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/set.tar.gz", digest, server
    server.shutdown()
    server.server_close()


def test_a_set_given_by_url_is_downloaded_once_checked_and_used_offline(archive_server):
    url, digest, server = archive_server
    declared = zoo.ReferenceSet(url=url, sha256=digest)
    registry = registry_with(declared)
    (root, problems) = refusals(lambda: reference_root("tiny_net", registry))
    assert root is None and problems == []  # listing never downloads
    (root, problems) = refusals(lambda: reference_root("tiny_net", registry, fetch=True))
    assert root == cache_folder(declared) and problems == [] and (root / "tiny_net" / "model.onnx").is_file()
    server.shutdown()  # offline from now on: a new process finds the cached set
    (root, problems) = refusals(lambda: reference_root("tiny_net", registry_with(declared), fetch=True))
    assert root == cache_folder(declared) and problems == []


def test_a_download_that_fails_its_checksum_is_discarded(archive_server):
    url, digest, _ = archive_server
    declared = zoo.ReferenceSet(url=url, sha256="0" * 64)
    (root, problems) = refusals(lambda: reference_root("tiny_net", registry_with(declared), fetch=True))
    assert root is None and len(problems) == 1
    assert f"download of {url} has sha256 {digest[:12]}…, not the declared 000000000000…; it was discarded" \
        in problems[0]
    assert not cache_folder(declared).exists()
    assert not [p for p in cache_folder(declared).parent.iterdir() if p.name.startswith(".")]


def zoo_cli(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "ZOO_HOME": str(cwd / "home")}
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


@pytest.fixture(scope="module")
def wine_site(tmp_path_factory) -> Path:
    """examples/zoo-wine, with the reference set it ships, installed (not editable) into a folder of its own."""
    site = tmp_path_factory.mktemp("wine-site")
    package = shutil.copytree(WINE, tmp_path_factory.mktemp("wine-source") / "zoo-wine")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(package)], check=True, timeout=300)
    return site


def test_after_pip_install_a_plugins_entry_lists_predicts_and_loads_with_no_training(wine_site, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    listed = zoo_cli(wine_site, work, "list", "wine_mlp", "iris_mlp", "--json")
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    cards = {c["name"]: c for c in json.loads(listed.stdout)}
    assert cards["wine_mlp"]["reference"]["value"] > 0.9  # the shipped run's accuracy, read from its report
    assert Path(cards["wine_mlp"]["reference"]["folder"]) == wine_site / "zoo_wine" / "reference" / "wine_mlp"

    (work / "wine.csv").write_text(WINE_ROW)
    predicted = zoo_cli(wine_site, work, "predict", "wine_mlp", "wine.csv", "--json")
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)[0]["classes"][0]["name"] == "cultivar_1"
    info = zoo_cli(wine_site, work, "info", "wine_mlp")
    reference_line = next(line for line in info.stdout.splitlines() if line.lstrip().startswith("reference"))
    assert info.returncode == 0 and str(wine_site / "zoo_wine" / "reference") in info.stdout, info.stdout
    assert "accuracy" in reference_line or "%" in reference_line, reference_line

    code = ("import zoo, keras, numpy; m = zoo.create_model('wine_mlp', trained=True); "
            "s = keras.saving.load_model('{}', compile=False); "
            "print(all(numpy.array_equal(a, b) for a, b in zip(m.get_weights(), s.get_weights())))")
    shipped_model = wine_site / "zoo_wine" / "reference" / "wine_mlp" / "model.keras"
    api = subprocess.run([sys.executable, "-c", code.format(shipped_model)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(wine_site), "ZOO_HOME": str(work / "home")}, cwd=work,
                         timeout=300)
    assert api.returncode == 0 and api.stdout.split()[-1] == "True", api.stderr[-3000:]
    served = subprocess.run([sys.executable, "-c", "from zoo.web.site_files import export_folders; "
                             "print(export_folders(None)['wine_mlp'])"], capture_output=True, text=True, cwd=work,
                            env={**os.environ, "PYTHONPATH": str(wine_site), "ZOO_HOME": str(work / "home")},
                            timeout=300)
    assert served.stdout.strip() == str(wine_site / "zoo_wine" / "reference" / "wine_mlp"), served.stderr  # zoo serve
    assert sorted(p.name for p in work.iterdir()) == ["wine.csv"]  # nothing trained, nothing written


def test_a_tampered_file_in_a_plugins_set_is_refused_for_that_entry_alone(wine_site, tmp_path):
    site = shutil.copytree(wine_site, tmp_path / "site")
    onnx = site / "zoo_wine" / "reference" / "wine_mlp" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-1] + b"\0")
    (tmp_path / "wine.csv").write_text(WINE_ROW)
    predicted = zoo_cli(site, tmp_path, "predict", "wine_mlp", "wine.csv")
    warning, error = predicted.stderr.strip().splitlines()
    assert predicted.returncode == 1 and "Traceback" not in predicted.stderr
    assert warning == ("zoo: warning: plugin 'wine''s reference set has a wine_mlp/model.onnx whose sha256 differs "
                       "from its manifest's: its results for 'wine_mlp' are not used; reinstall zoo-wine")
    assert error.startswith("zoo: error: ") and "no ONNX export of 'wine_mlp'" in error
    listed = zoo_cli(site, tmp_path, "list", "--json")
    cards = {c["name"]: c for c in json.loads(listed.stdout)}
    assert listed.returncode == 0 and cards["wine_mlp"]["reference"] is None
    assert all(cards[name]["reference"] is not None for name in cards if name != "wine_mlp")
    (tmp_path / "iris.csv").write_text("5.1,3.5,1.4,0.2\n")
    assert zoo_cli(site, tmp_path, "predict", "iris_mlp", "iris.csv").returncode == 0
