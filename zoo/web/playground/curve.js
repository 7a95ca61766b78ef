// One-number regression entries (fn_*): a slider (and a box) for x, the model's y, and its learned
// curve drawn over the test split's points, the truth it was scored against, which the server
// reads from the dataset (the ONNX metadata does not carry the function, and the test vectors
// hold the model's own outputs).

import { float32Text } from "./metadata.js";
import { coalesced, el, modelCard, say, track } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const PLOT = { width: 440, height: 260, margin: 34 };
const CURVE_POINTS = 241;

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

export class CurveEditor {
  constructor(model, results) {
    this.model = model;
    this.results = results;
    const { card, body, message } = modelCard(model);
    this.message = message;
    this.node = card;
    this.points = null;
    this.curve = null;
    const xs = model.samples.map(s => s.raw[0]);
    this.range = xs.length ? padded(Math.min(...xs), Math.max(...xs)) : [-1, 1];
    this.update = coalesced(() => this.predict());
    this.slider = el("input", { type: "range", step: "any", "aria-label": "x", oninput: () => this.slid() });
    this.box = el("input", { type: "text", inputmode: "decimal", autocomplete: "off", "aria-label": "x value", oninput: this.update });
    this.readout = el("p", { class: "value", "aria-live": "polite" });
    this.note = el("p", { class: "muted note" });
    this.plot = svg("svg", { viewBox: `0 0 ${PLOT.width} ${PLOT.height}`, class: "plot", role: "img",
      "aria-label": `${model.name}: learned curve and test points` });
    body.append(el("label", { class: "x" }, el("span", { text: "x" }), this.slider, this.box), this.readout, this.plot, this.note);
    this.setRange(this.range);
    const middle = [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0; // start at a test x mid-range
    this.box.value = float32Text(Math.fround(middle));
    this.slider.value = this.box.value;
    this.update();
    track(this.loadPoints());
  }

  setRange([lo, hi]) {
    this.range = [lo, hi];
    this.slider.min = String(lo);
    this.slider.max = String(hi);
  }

  slid() {
    this.box.value = float32Text(Math.fround(Number(this.slider.value)));
    this.update();
  }

  /** The test split's points from the server; without them the learned curve is drawn alone. */
  async loadPoints() {
    const target = this.model.meta.target_names[0] ?? "y";
    try {
      const response = await fetch(this.model.entry.test_points);
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error ?? `HTTP ${response.status}`);
      this.points = answer;
      this.setRange(padded(Math.min(...answer.x), Math.max(...answer.x)));
      this.note.textContent = `Dots: the ${answer.test_samples} test points of ${target} (${answer.origin}; ${answer.note}). ` +
        "Line: the model's output across the range.";
    } catch (error) {
      this.note.textContent = `The test points could not be loaded (${error.message ?? error}); the line is the model's output alone.`;
    }
    this.curve = null;
    await this.update();
  }

  async predict() {
    const { model } = this;
    const text = this.box.value.trim();
    const x = text === "" ? NaN : Number(text);
    if (!Number.isFinite(x)) {
      this.box.setAttribute("aria-invalid", "true");
      say(this.message, `x: ${text === "" ? "is empty" : `"${text}" is not a number`}; type a number`);
      this.readout.textContent = "";
      this.results[model.name] = { problem: this.message.textContent };
      return;
    }
    this.box.setAttribute("aria-invalid", "false");
    try {
      if (!this.curve) this.curve = await this.learnedCurve();
      const [row] = await model.predict(Float64Array.of(x));
      say(this.message, "");
      if (x >= this.range[0] && x <= this.range[1]) this.slider.value = String(x);
      this.readout.textContent = `x = ${float32Text(Math.fround(x))}  →  ${model.meta.target_names[0] ?? "y"} = ${row.outputs[0].toPrecision(6)}`;
      this.results[model.name] = { raw: [x], input: Array.from(row.input), outputs: row.outputs, probabilities: null, top: null };
      this.draw(Math.fround(x), row.outputs[0]);
    } catch (error) {
      say(this.message, `${model.name} could not run: ${error.message ?? error}`);
      this.results[model.name] = { error: String(error.message ?? error) };
    }
  }

  /** The model's y at evenly spaced x across the range, in one batch. */
  async learnedCurve() {
    const [lo, hi] = this.range;
    const xs = Float64Array.from({ length: CURVE_POINTS }, (_, i) => lo + (hi - lo) * i / (CURVE_POINTS - 1));
    const rows = await this.model.predict(xs, xs.length);
    return { x: Array.from(xs, Math.fround), y: rows.map(r => r.outputs[0]) };
  }

  draw(x, y) {
    const { width, height, margin } = PLOT;
    const truth = this.points ?? { x: [], y: [] };
    const ys = [...this.curve.y, ...truth.y, y];
    const [ylo, yhi] = padded(Math.min(...ys), Math.max(...ys));
    const [xlo, xhi] = this.range;
    const px = v => margin + (width - 2 * margin) * (v - xlo) / (xhi - xlo);
    const py = v => height - margin - (height - 2 * margin) * (v - ylo) / (yhi - ylo);
    const inside = v => v >= xlo && v <= xhi;
    const label = (text, ax, ay, anchor) => svg("text", { x: ax, y: ay, "text-anchor": anchor, class: "tick" }, text);
    this.plot.replaceChildren(
      svg("rect", { x: margin, y: margin, width: width - 2 * margin, height: height - 2 * margin, class: "frame" }),
      label(xlo.toPrecision(3), px(xlo), height - margin + 14, "start"), label(xhi.toPrecision(3), px(xhi), height - margin + 14, "end"),
      label(yhi.toPrecision(3), margin - 4, py(yhi) + 4, "end"), label(ylo.toPrecision(3), margin - 4, py(ylo), "end"),
      ...truth.x.map((tx, i) => svg("circle", { cx: px(tx), cy: py(truth.y[i]), r: 1.6, class: "truth" })),
      svg("polyline", { points: this.curve.x.map((cx, i) => `${px(cx).toFixed(1)},${py(this.curve.y[i]).toFixed(1)}`).join(" "), class: "learned" }),
      ...(inside(x) ? [svg("line", { x1: px(x), x2: px(x), y1: margin, y2: height - margin, class: "cursor" }),
        svg("circle", { cx: px(x), cy: py(y), r: 4.5, class: "here" })] : []));
  }
}

function padded(lo, hi) {
  const pad = (hi - lo) * 0.05 || Math.max(Math.abs(lo), 1) * 0.1;
  return [lo - pad, hi + pad];
}
