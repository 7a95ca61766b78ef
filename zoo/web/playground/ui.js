// The page's shared pieces: building elements, a model's card, messages, the bar chart, and the
// bookkeeping that lets a caller (a person or a test) know when every update has been drawn.

import { settled } from "./model.js";

const busy = new Set();

/** An element with attributes (`class`, `text`, event handlers `on…`, others as attributes) and children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter(c => c !== null && c !== undefined));
  return node;
}

/** Keep `promise` counted until it settles, so `idle` waits for it. */
export function track(promise) {
  busy.add(promise);
  const forget = () => busy.delete(promise);
  promise.then(forget, forget);
  return promise;
}

/** Resolves once every tracked update and every queued inference has finished. */
export async function idle() {
  while (busy.size) await Promise.allSettled([...busy]);
  await settled();
}

/**
 * `update` run now, or, while a run is in progress, once more after it: calls that arrive while
 * drawing are folded into one, so the page keeps up with the pointer without queueing stale work.
 */
export function coalesced(update) {
  let running = null, again = false;
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = track((async () => {
      try {
        do {
          again = false;
          await update();
        } while (again);
      } finally {
        running = null;
      }
    })());
    return running;
  };
}

/** Show `text` in a message element (role=alert), or hide it when `text` is empty. */
export function say(node, text, kind = "problem") {
  node.textContent = text || "";
  node.hidden = !text;
  node.dataset.kind = kind;
}

/** A model's card: its name, where it comes from, what it is and scored, and a body for its editor. */
export function modelCard(model) {
  const { meta, entry } = model;
  const metric = meta.metric_name === "accuracy" ? `${(100 * meta.metric_value).toFixed(2)}%`
    : meta.metric_value.toPrecision(4);
  const body = el("div", { class: "body" });
  const message = el("p", { class: "message", role: "alert", hidden: true });
  const card = el("article", { class: "card", "data-model": model.name },
    el("header", {},
      el("h3", {}, el("span", { text: model.name }), el("small", { class: `source ${entry.source === "reference" ? "" : "run"}`, text: entry.source })),
      el("p", { class: "muted", text: meta.description }),
      el("p", { class: "facts" },
        el("span", { text: `${meta.metric_name} ${metric} on ${Number(meta.metric_test_samples).toLocaleString("en")} test samples` }),
        el("span", { text: ` · input: ${meta.preprocessing}` }),
        model.endToEnd ? el("span", { text: " · runs end_to_end/model.onnx: raw values in, preprocessing" +
          (meta.output_kind === "logits" ? " and softmax" : "") + " in the graph" })
          : meta.output_kind === "logits" ? el("span", { text: " · outputs logits: bars show their softmax" }) : null,
        entry.report ? el("span", {}, " · ", el("a", { href: entry.report, target: "_blank", text: "report" })) : null),
      model.samplesProblem ? el("p", { class: "message", "data-kind": "hint", text: model.samplesProblem }) : null),
    message, body);
  return { card, body, message };
}

/** A card for an entry that did not load: its name and why. */
export function failedCard(entry, error) {
  return el("article", { class: "card failed", "data-model": entry.name },
    el("header", {}, el("h3", {}, el("span", { text: entry.name }), el("small", { class: "source", text: entry.source }))),
    el("p", { class: "message", role: "alert", "data-kind": "problem", text: `${entry.name}: ${error.message ?? error}` }));
}

/** A horizontal bar chart of the `top` largest probabilities, best first. */
export function renderBars(node, labels, probabilities, top = 5) {
  const order = probabilities.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, top);
  node.replaceChildren(...order.map(([p, i], rank) => {
    const fill = el("span", { class: "fill" });
    fill.style.width = `${(100 * p).toFixed(2)}%`; // through the CSSOM: the page's CSP allows no inline style
    return el("div", { class: `bar${rank === 0 ? " best" : ""}`, "data-class": labels[i] },
      el("span", { class: "label", text: labels[i] }), el("span", { class: "track" }, fill),
      el("span", { class: "value", text: `${(100 * p).toFixed(2)}%` }));
  }));
}

/** The index of the largest value (the first, on ties, as numpy's argmax). */
export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
