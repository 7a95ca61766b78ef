// Image entries: one drawing canvas per dataset and picture size, shared by every entry that takes
// it, each entry's top classes beside it, so one picture goes through all of them side by side
// (draw a digit, press Invert, and see which networks still read it).

import { DrawingPad } from "./draw.js";
import { argmax, coalesced, el, modelCard, renderBars, say } from "./ui.js";

/** Image entries grouped by what they take: dataset and raw picture size. */
export function imageGroups(models) {
  const groups = new Map();
  for (const model of models) {
    const key = `${model.meta.dataset} ${model.meta.raw_input_shape.join("x")}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(model);
  }
  return [...groups.values()];
}

export class ImageGroup {
  constructor(models, results) {
    this.models = models;
    this.results = results;
    const [height, width] = models[0].meta.raw_input_shape;
    this.width = width;
    this.height = height;
    this.inverted = false;
    this.update = coalesced(() => this.predict());
    this.pad = new DrawingPad(width, height, this.update);
    this.preview = el("canvas", { class: "preview", width, height });
    this.message = el("p", { class: "message", role: "alert", hidden: true });
    this.invertButton = el("button", { type: "button", class: "invert", "aria-pressed": "false", onclick: () => this.toggleInvert(), text: "Invert colours" });
    this.cards = models.map(model => ({ model, ...modelCard(model) }));
    for (const c of this.cards) {
      c.bars = el("div", { class: "bars", "aria-label": `${c.model.name}: top classes` });
      c.body.append(c.bars);
    }
    const dataset = models[0].meta.dataset;
    this.node = el("section", { class: "group images", "data-dataset": dataset },
      el("h2", { text: `${dataset}: draw a picture, or pick a test image` }),
      el("div", { class: "row" },
        el("div", { class: "pad" },
          this.pad.canvas,
          el("div", { class: "buttons" },
            el("button", { type: "button", class: "clear", onclick: () => this.clear(), text: "Clear" }),
            this.invertButton),
          el("figure", { class: "seen" }, this.preview,
            el("figcaption", { text: `what the models get: ${width}×${height} pixels, 0–255` })),
          this.message,
          el("div", { class: "samples", role: "group", "aria-label": "test images" },
            ...sampleButtons(models, width, height, (canvas, raw) => paint(canvas, raw), sample => this.pick(sample)))),
        el("div", { class: "cards" }, ...this.cards.map(c => c.card))));
    this.hint = "Draw with the mouse, a pen or a finger (white on black), or pick a test image below.";
    const first = models.find(m => m.samples.length)?.samples[0];
    if (first) this.pick(first);
    else say(this.message, this.hint, "hint");
  }

  pick(sample) {
    this.pad.showSample(sample.raw);
    this.update();
  }

  clear() {
    this.pad.clear();
    this.update();
  }

  toggleInvert() {
    this.inverted = !this.inverted;
    this.invertButton.setAttribute("aria-pressed", String(this.inverted));
    this.pad.canvas.classList.toggle("inverted", this.inverted);
    this.update();
  }

  /** The picture as every entry gets it: the pad's pixels, inverted when asked; null when blank. */
  pixels() {
    const base = this.pad.pixels();
    return base && (this.inverted ? base.map(v => 255 - v) : base);
  }

  async predict() {
    const pixels = this.pixels();
    paint(this.preview, pixels ?? new Uint8Array(this.width * this.height).fill(this.inverted ? 255 : 0));
    if (!pixels) {
      say(this.message, "The canvas is blank: draw something (white on black) or pick a test image first.");
      for (const c of this.cards) {
        c.bars.replaceChildren();
        this.results[c.model.name] = { blank: true };
      }
      return;
    }
    say(this.message, this.hint, "hint");
    await predictEach(this.cards, this.results, pixels);
  }
}

/** A button per distinct test image of the models (its data-source names every entry that has it). */
export function sampleButtons(models, width, height, paint, pick) {
  const buttons = new Map();
  for (const model of models) {
    for (const sample of model.samples) {
      const key = sample.raw.join(",");
      const source = `${model.name}#${sample.index}`;
      if (buttons.has(key)) {
        buttons.get(key).dataset.source += ` ${source}`;
        continue;
      }
      const thumb = el("canvas", { width, height });
      paint(thumb, sample.raw);
      buttons.set(key, el("button", { type: "button", class: "sample", "data-source": source,
        title: sample.label === null ? `test sample ${sample.index}` : `a test image of class ${sample.label}`,
        onclick: () => pick(sample) }, thumb, el("span", { text: sample.label ?? `#${sample.index}` })));
    }
  }
  return [...buttons.values()];
}

/** Run every card's model on one picture, drawing its top classes and keeping what it got in `results`. */
export async function predictEach(cards, results, pixels) {
  for (const c of cards) {
    try {
      const [row] = await c.model.predict(pixels);
      renderBars(c.bars, c.model.meta.class_names, row.probabilities);
      say(c.message, "");
      results[c.model.name] = { raw: Array.from(pixels), input: Array.from(row.input), outputs: row.outputs,
        probabilities: row.probabilities, top: c.model.meta.class_names[argmax(row.probabilities)] };
    } catch (error) {
      c.bars.replaceChildren();
      say(c.message, `${c.model.name} could not run on this picture: ${error.message ?? error}`);
      results[c.model.name] = { error: String(error.message ?? error) };
    }
  }
}

/** Draw greyscale pixels (0-255) into a canvas of the picture's size (CSS scales it up, pixelated). */
function paint(canvas, pixels) {
  const image = new ImageData(canvas.width, canvas.height);
  pixels.forEach((v, k) => image.data.set([v, v, v, 255], 4 * k));
  canvas.getContext("2d").putImageData(image, 0, 0);
}
