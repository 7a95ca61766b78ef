// Tabular entries (a row of measurements, e.g. Iris): one box per raw value, filled from a test row,
// and the top classes (or the predicted values) for what is in the boxes.

import { float32Text, rawRange } from "./metadata.js";
import { argmax, coalesced, el, modelCard, renderBars, say } from "./ui.js";

export class TableEditor {
  constructor(model, results) {
    this.model = model;
    this.results = results;
    const { meta } = model;
    const { card, body, message } = modelCard(model);
    this.message = message;
    this.update = coalesced(() => this.predict());
    const names = meta.feature_names ?? Array.from({ length: meta.rawSize }, (_, i) => `value ${i + 1}`);
    this.boxes = names.map((name, i) => el("input", { type: "text", inputmode: "decimal", autocomplete: "off",
      "aria-label": name, "data-feature": i, oninput: this.update }));
    this.output = el("div", { class: meta.task === "classification" ? "bars" : "values" });
    this.picker = el("select", { "aria-label": "test row", onchange: () => this.fill(Number(this.picker.value)) },
      ...model.samples.map((s, i) => el("option", { value: i, text: s.label === null ? `test row ${s.index + 1}` : `a test row of class ${s.label}` })));
    body.append(
      el("div", { class: "fields" }, ...names.map((name, i) => el("label", {}, el("span", { text: name }), this.boxes[i]))),
      model.samples.length ? el("p", { class: "pick" }, el("span", { text: "fill from " }), this.picker) : null,
      this.output);
    this.node = card;
    if (model.samples.length) this.fill(0);
    else say(message, "Type a number into each box.", "hint");
  }

  /** Fill the boxes from test sample `i` (exactly: each text reads back as the same float32). */
  fill(i) {
    const { raw } = this.model.samples[i];
    this.boxes.forEach((box, k) => { box.value = float32Text(Math.fround(raw[k])); });
    this.picker.value = String(i);
    this.update();
  }

  /** The boxes' values, or a message naming the first box that does not hold a usable number. */
  read() {
    const range = rawRange(this.model.meta);
    const raw = new Float64Array(this.boxes.length);
    for (const [k, box] of this.boxes.entries()) {
      const text = box.value.trim();
      const value = text === "" ? NaN : Number(text);
      const bad = !Number.isFinite(value) ? (text === "" ? "is empty" : `"${text}" is not a number`)
        : range && !(Number.isInteger(value) && value >= range[0] && value <= range[1])
          ? `${text} is not a whole number from ${range[0]} to ${range[1]}` : null;
      box.setAttribute("aria-invalid", String(Boolean(bad)));
      if (bad) return { problem: `${box.getAttribute("aria-label")}: ${bad}; type a number` };
      raw[k] = value;
    }
    return { raw };
  }

  async predict() {
    const { model } = this;
    const { raw, problem } = this.read();
    if (problem) {
      say(this.message, problem);
      this.output.replaceChildren();
      this.results[model.name] = { problem };
      return;
    }
    try {
      const [row] = await model.predict(raw);
      say(this.message, "");
      if (row.probabilities) renderBars(this.output, model.meta.class_names, row.probabilities);
      else this.output.replaceChildren(...model.meta.target_names.map((name, i) => el("p", { class: "value", text: `${name} = ${row.outputs[i].toPrecision(6)}` })));
      this.results[model.name] = { raw: Array.from(raw), input: Array.from(row.input), outputs: row.outputs, probabilities: row.probabilities,
        top: row.probabilities ? model.meta.class_names[argmax(row.probabilities)] : null };
    } catch (error) {
      this.output.replaceChildren();
      say(this.message, `${model.name} could not run on these values: ${error.message ?? error}`);
      this.results[model.name] = { error: String(error.message ?? error) };
    }
  }
}
