"""README's screenshot of the playground, from the exports in EXPORTS (default: reference/), with headless Chromium.

    python docs/playground_screenshot.py [EXPORTS]

Serves EXPORTS as `zoo serve` does (onnxruntime-web from `npm ci --prefix web --ignore-scripts`),
loads the page, picks the MNIST test image of a 4 and presses "Invert colours", so the shot
shows the workshop's lesson: the plain CNN misreads the inverted digit, the one trained on
inverted copies does not. Writes docs/playground.png.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # tests/chromium.py drives Chromium over the DevTools pipe

from chromium import Browser, find_chromium  # noqa: E402

from zoo.web.site_files import ort_folder  # noqa: E402
from zoo.web.serve import Site, make_server  # noqa: E402

DIGIT = "4"
WIDTH, HEIGHT = 1400, 1500


def main(exports: Path) -> Path:
    site = Site(None, ort_folder(), reference=exports.resolve())
    server = make_server(site, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dest = ROOT / "docs" / "playground.png"
    try:
        with Browser(find_chromium() or "chromium", width=WIDTH, height=HEIGHT) as browser:
            browser.open(f"http://127.0.0.1:{server.server_address[1]}/")
            wait(browser, "zooPlayground.ready.then(() => zooPlayground.idle())")
            group = '[data-dataset="mnist"]'
            browser.evaluate(f"Array.from(document.querySelectorAll('{group} button.sample'))"
                             f".find(b => b.textContent === {DIGIT!r}).click()")
            browser.evaluate(f"document.querySelector('{group} button.invert').click()")
            wait(browser, "zooPlayground.idle()")
            tops = browser.evaluate("Object.fromEntries(Object.entries(zooPlayground.results)"
                                    ".filter(([, r]) => r.top).map(([n, r]) => [n, r.top]))")
            print(f"inverted {DIGIT}: {tops}")
            browser.screenshot(dest, full_page=True)
    finally:
        server.shutdown()
        server.server_close()
    return dest


def wait(browser: Browser, expression: str) -> None:
    browser.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "timeout": 120_000})


if __name__ == "__main__":
    print(main(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "reference")))
