// Colour image entries (uint8 pictures of 3 or 4 channels): no drawing pad, but every test image as a
// button and a file picker for a PNG or JPEG of the size the models take. One group per dataset and
// picture size, each entry's top classes beside it, as for greyscale pictures.

import { predictEach, sampleButtons } from "./image.js";
import { coalesced, el, modelCard, say } from "./ui.js";

export class PictureGroup {
  constructor(models, results) {
    this.models = models;
    this.results = results;
    [this.height, this.width, this.channels] = models[0].meta.raw_input_shape;
    this.pixels = null;
    this.update = coalesced(() => this.predict());
    this.preview = el("canvas", { class: "preview", width: this.width, height: this.height });
    this.message = el("p", { class: "message", role: "alert", hidden: true });
    this.file = el("input", { type: "file", class: "file", accept: "image/png,image/jpeg", onchange: () => this.load() });
    this.cards = models.map(model => ({ model, ...modelCard(model) }));
    for (const c of this.cards) {
      c.bars = el("div", { class: "bars", "aria-label": `${c.model.name}: top classes` });
      c.body.append(c.bars);
    }
    const dataset = models[0].meta.dataset;
    this.node = el("section", { class: "group pictures", "data-dataset": dataset },
      el("h2", { text: `${dataset}: pick a test image, or open a ${this.width}×${this.height} PNG or JPEG` }),
      el("div", { class: "row" },
        el("div", { class: "pad" },
          el("figure", { class: "seen" }, this.preview,
            el("figcaption", { text: `what the models get: ${this.width}×${this.height} pixels, ${this.channels} channels, 0–255` })),
          el("label", { text: "Open a picture: " }, this.file),
          this.message,
          el("div", { class: "samples", role: "group", "aria-label": "test images" },
            ...sampleButtons(models, this.width, this.height, (canvas, raw) => paint(canvas, raw, this.channels),
              sample => this.pick(sample)))),
        el("div", { class: "cards" }, ...this.cards.map(c => c.card))));
    const first = models.find(m => m.samples.length)?.samples[0];
    if (first) this.pick(first);
    else say(this.message, "Open a picture to classify it.", "hint");
  }

  pick(sample) {
    this.pixels = Uint8Array.from(sample.raw);
    this.update();
  }

  /** The chosen file's pixels, if it has exactly the models' size (no resizing: what you see is what they get). */
  async load() {
    const [file] = this.file.files;
    if (!file) return;
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch (error) {
      say(this.message, `${file.name} is not a PNG or JPEG this browser can read.`);
      return;
    }
    if (bitmap.width !== this.width || bitmap.height !== this.height) {
      say(this.message, `${file.name} is ${bitmap.width}×${bitmap.height} pixels; these models take ${this.width}×${this.height}, so resize it first.`);
      return;
    }
    const canvas = new OffscreenCanvas(this.width, this.height);
    const context = canvas.getContext("2d");
    context.drawImage(bitmap, 0, 0);
    const rgba = context.getImageData(0, 0, this.width, this.height).data;
    this.pixels = new Uint8Array(this.width * this.height * this.channels);
    for (let k = 0; k < this.width * this.height; k++) {
      for (let c = 0; c < this.channels; c++) this.pixels[k * this.channels + c] = rgba[4 * k + c];
    }
    this.update();
  }

  async predict() {
    if (!this.pixels) return;
    paint(this.preview, this.pixels, this.channels);
    say(this.message, "");
    await predictEach(this.cards, this.results, this.pixels);
  }
}

/** Draw RGB or RGBA pixels (0-255) into a canvas of the picture's size (CSS scales it up, pixelated). */
function paint(canvas, pixels, channels) {
  const image = new ImageData(canvas.width, canvas.height);
  for (let k = 0; k < canvas.width * canvas.height; k++) {
    const p = pixels.subarray ? pixels.subarray(k * channels, k * channels + 3) : pixels.slice(k * channels, k * channels + 3);
    image.data.set([p[0], p[1], p[2], channels === 4 ? pixels[k * channels + 3] : 255], 4 * k);
  }
  canvas.getContext("2d").putImageData(image, 0, 0);
}
