// The playground: loads onnxruntime-web (WebAssembly only, from this server) and every entry the
// server lists, then gives each the editor its metadata calls for. Nothing here names a model:
// a plugin's export appears with no code of its own.
//
// window.zooPlayground is the page's state for anyone driving it (the browser tests do):
//   ready      resolves when every entry has loaded or failed
//   idle()     resolves when every update and inference has finished
//   results    per entry, what the last update fed it and got: {raw, input, outputs, probabilities, top},
//              or {problem} / {blank} / {error}; input is the raw values where the entry runs its
//              end-to-end file (model.endToEnd), outputs then its probabilities or values
//   errors     per entry that did not load, why
//   models     the loaded entries (Model objects)

import { CurveEditor } from "./curve.js";
import { ImageGroup, imageGroups } from "./image.js";
import { Model } from "./model.js";
import { PictureGroup } from "./picture.js";
import { TableEditor } from "./table.js";
import { el, failedCard, idle, modelCard, say } from "./ui.js";

const ORT_MODULE = new URL("../ort/ort.wasm.bundle.min.mjs", import.meta.url).href;
const ORT_WASM = new URL("../ort/ort-wasm-simd-threaded.wasm", import.meta.url).href;
const INDEX = new URL("../entries.json", import.meta.url).href;

const status = document.getElementById("status");
const root = document.getElementById("playground");
const api = { results: {}, errors: {}, models: {}, idle };
window.zooPlayground = api;
// A bug must not leave a silent, frozen page: say so where the user looks.
window.addEventListener("error", event => say(status, `Something went wrong in the page: ${event.message}`));
window.addEventListener("unhandledrejection", event => say(status, `Something went wrong in the page: ${event.reason?.message ?? event.reason}`));
api.ready = start();

async function start() {
  let ort, index;
  try {
    ort = await import(ORT_MODULE);
    ort.env.wasm.numThreads = 1; // threads would need a cross-origin-isolated page; these models are small
    ort.env.wasm.wasmPaths = { wasm: ORT_WASM }; // only the .wasm: the bundle carries its own loader
  } catch (error) {
    say(status, `onnxruntime-web did not load (${error.message}); run 'npm ci --prefix web --ignore-scripts' and restart 'zoo serve'.`);
    return;
  }
  try {
    const response = await fetch(INDEX);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    index = await response.json();
  } catch (error) {
    say(status, `The list of entries did not load (${error.message}); is 'zoo serve' still running?`);
    return;
  }
  say(status, `Loading ${index.entries.length} models…`, "hint");
  const loaded = [];
  const failed = [];
  for (const entry of index.entries) {
    try {
      const model = await Model.load(entry, ort);
      loaded.push(model);
      api.models[entry.name] = model;
    } catch (error) {
      api.errors[entry.name] = error.message;
      failed.push(failedCard(entry, error));
    }
  }
  render(loaded, failed);
  const runs = index.runs ? `your runs in ${index.runs} where there is one, else the reference exports` : "the reference exports";
  say(status, `${loaded.length} of ${index.entries.length} models loaded from ${runs}; onnxruntime-web ${ort.env.versions?.web ?? ""} ` +
    `(WebAssembly) runs them in this page.${failed.length ? ` ${failed.length} did not load: see below.` : ""}`, failed.length ? "problem" : "hint");
  await idle();
}

function render(models, failed) {
  const results = api.results;
  const byKind = kind => models.filter(m => m.kind === kind);
  const sections = [];
  for (const group of imageGroups(byKind("image"))) sections.push(new ImageGroup(group, results).node);
  for (const group of imageGroups(byKind("picture"))) sections.push(new PictureGroup(group, results).node);
  const tables = byKind("table").map(m => new TableEditor(m, results).node);
  if (tables.length) sections.push(section("tables", "Rows of measurements: type values, or fill a test row", tables));
  const curves = byKind("curve").map(m => new CurveEditor(m, results).node);
  if (curves.length) sections.push(section("curves", "Curves: move x and compare the learned curve with the test points", curves));
  const other = byKind("none").map(m => {
    const { card, message } = modelCard(m);
    say(message, `Its input (${m.meta.raw_input_shape.join("×")} ${m.meta.raw_input_dtype}) has no editor in the playground.`, "hint");
    return card;
  });
  if (other.length) sections.push(section("other", "Other entries", other));
  if (failed.length) sections.push(section("failed", "Entries that did not load", failed));
  root.replaceChildren(...sections);
}

function section(kind, title, cards) {
  return el("section", { class: `group ${kind}` }, el("h2", { text: title }), el("div", { class: "cards" }, ...cards));
}
