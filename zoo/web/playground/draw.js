// A canvas to draw a digit on with a mouse, a pen or a finger, and the step that turns the drawing
// into the small greyscale picture a model takes, the way MNIST's digits were made: white strokes
// on black, the drawing's bounding box scaled (area-averaged, so edges come out grey) to fit a
// 20x20 box, placed in the 28x28 frame with its centre of mass at the centre.

const DISPLAY_SCALE = 10; // drawing pixels per model pixel
const STROKE = 2.2; // pen width, in model pixels: about an MNIST stroke's
const BOX = 20 / 28; // MNIST: the digit fills a 20x20 box in the 28x28 frame

/**
 * Greyscale `values` (width x height, 0-255) as a `outWidth` x `outHeight` Uint8Array in MNIST's
 * framing, or null when nothing is drawn.
 */
export function digitPixels(values, width, height, outWidth, outHeight) {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (values[y * width + x] > 0) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  const boxWidth = x1 - x0 + 1, boxHeight = y1 - y0 + 1;
  const scale = Math.round(Math.min(outWidth, outHeight) * BOX) / Math.max(boxWidth, boxHeight);
  const w = Math.max(1, Math.round(boxWidth * scale)), h = Math.max(1, Math.round(boxHeight * scale));
  const small = new Float64Array(w * h);
  let mass = 0, mx = 0, my = 0;
  for (let j = 0; j < h; j++) {
    for (let i = 0; i < w; i++) { // the mean of the source pixels under this target pixel
      const sx0 = x0 + Math.floor(i * boxWidth / w), sx1 = Math.max(sx0 + 1, x0 + Math.floor((i + 1) * boxWidth / w));
      const sy0 = y0 + Math.floor(j * boxHeight / h), sy1 = Math.max(sy0 + 1, y0 + Math.floor((j + 1) * boxHeight / h));
      let sum = 0;
      for (let y = sy0; y < sy1; y++) for (let x = sx0; x < sx1; x++) sum += values[y * width + x];
      const v = sum / ((sx1 - sx0) * (sy1 - sy0));
      small[j * w + i] = v;
      mass += v; mx += v * (i + 0.5); my += v * (j + 0.5);
    }
  }
  const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);
  const left = clamp(Math.round(outWidth / 2 - mx / mass), outWidth - w);
  const top = clamp(Math.round(outHeight / 2 - my / mass), outHeight - h);
  const out = new Uint8Array(outWidth * outHeight);
  for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) out[(top + j) * outWidth + left + i] = Math.round(small[j * w + i]);
  return out;
}

export class DrawingPad {
  /** A drawing canvas for pictures of `width` x `height`; `changed()` is called as the picture changes. */
  constructor(width, height, changed) {
    this.width = width;
    this.height = height;
    this.changed = changed;
    this.canvas = document.createElement("canvas");
    this.canvas.width = width * DISPLAY_SCALE;
    this.canvas.height = height * DISPLAY_SCALE;
    this.canvas.className = "draw";
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", "drawing canvas: draw with the mouse, a pen or a finger");
    this.context = this.canvas.getContext("2d", { willReadFrequently: true });
    this.sample = null; // a picked test image: its exact pixels, until drawn over
    this.last = null;
    this.clear();
    for (const type of ["pointerdown", "pointermove", "pointerup", "pointercancel"]) {
      this.canvas.addEventListener(type, event => this[type](event));
    }
  }

  clear() {
    this.context.fillStyle = "#000";
    this.context.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.sample = null;
  }

  /** Show a picked test image and keep its exact pixels as the picture. */
  showSample(pixels) {
    this.clear();
    const small = new ImageData(this.width, this.height);
    pixels.forEach((v, k) => small.data.set([v, v, v, 255], 4 * k));
    const scratch = document.createElement("canvas");
    scratch.width = this.width;
    scratch.height = this.height;
    scratch.getContext("2d").putImageData(small, 0, 0);
    this.context.imageSmoothingEnabled = false;
    this.context.drawImage(scratch, 0, 0, this.canvas.width, this.canvas.height);
    this.sample = Uint8Array.from(pixels);
  }

  /** The picture as the model's raw pixels (before any inversion), or null when the canvas is blank. */
  pixels() {
    if (this.sample) return this.sample.some(v => v > 0) ? this.sample : null;
    const rgba = this.context.getImageData(0, 0, this.canvas.width, this.canvas.height).data;
    const grey = new Uint8Array(rgba.length / 4);
    for (let k = 0; k < grey.length; k++) grey[k] = rgba[4 * k];
    return digitPixels(grey, this.canvas.width, this.canvas.height, this.width, this.height);
  }

  point(event) {
    const box = this.canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * this.canvas.width / box.width, (event.clientY - box.top) * this.canvas.height / box.height];
  }

  pointerdown(event) {
    if (event.button !== 0) return;
    event.preventDefault();
    this.canvas.setPointerCapture?.(event.pointerId);
    if (this.sample) this.clear(); // a new drawing starts on a clean canvas, not over a picked test image
    this.last = this.point(event);
    this.stroke(this.last, this.last);
    this.changed();
  }

  pointermove(event) {
    if (!this.last) return;
    event.preventDefault();
    const next = this.point(event);
    this.stroke(this.last, next);
    this.last = next;
    this.changed();
  }

  pointerup() {
    if (!this.last) return;
    this.last = null;
    this.changed();
  }

  pointercancel() {
    this.pointerup();
  }

  stroke(from, to) {
    const c = this.context;
    c.strokeStyle = "#fff";
    c.lineWidth = STROKE * DISPLAY_SCALE;
    c.lineCap = c.lineJoin = "round";
    c.beginPath();
    c.moveTo(...from);
    c.lineTo(...to);
    c.stroke();
  }
}
