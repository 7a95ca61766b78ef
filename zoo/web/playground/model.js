// One entry's export in the page: its bytes fetched once, its metadata read from those very bytes,
// an onnxruntime-web session on them, its test vectors as raw samples, and `predict`, the one path
// every editor's input takes to the model. The file is the entry's end_to_end/model.onnx where the
// server lists one (raw values in, probabilities or values out: the preprocessing is in the graph),
// else model.onnx, with the preprocessing and softmax done here (exports from before the end-to-end file).

import { editorKind, parseMetadata, preprocess, rawTensor, softmax, unpreprocess } from "./metadata.js";
import { readMetadataProps, readTensor } from "./protobuf.js";

let queue = Promise.resolve(); // one inference at a time: the WebAssembly backend runs on this thread

/** Run `work` after every earlier inference has finished; resolves with its result. */
export function enqueue(work) {
  const result = queue.then(work);
  queue = result.catch(() => {});
  return result;
}

/** Wait until no inference is queued or running. */
export async function settled() {
  let seen;
  do {
    seen = queue;
    await seen;
  } while (seen !== queue);
}

async function fetchBytes(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`could not fetch ${what} (${error.message}); is 'zoo serve' still running?`);
  }
  if (!response.ok) throw new Error(`could not fetch ${what}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

export class Model {
  constructor(entry, meta, session, samples) {
    this.entry = entry;
    this.name = entry.name;
    this.meta = meta;
    this.session = session;
    this.samples = samples; // test vectors as raw samples: [{raw, expected, label, index}]
    this.kind = editorKind(meta);
    this.endToEnd = meta.endToEnd; // runs end_to_end/model.onnx: raw values in, probabilities or values out
  }

  /** Load an entry of the server's index; throws an Error whose message the page shows. */
  static async load(entry, ort) {
    const file = entry.end_to_end ? "end_to_end/model.onnx" : "model.onnx";
    const bytes = await fetchBytes(entry.model, file);
    let meta;
    try {
      meta = parseMetadata(readMetadataProps(bytes));
    } catch (error) {
      throw new Error(`${file} cannot be used: ${error.message}`);
    }
    if (meta.endToEnd !== Boolean(entry.end_to_end)) {
      throw new Error(`${file} cannot be used: its metadata ${meta.endToEnd ? "says" : "does not say"} it is ` +
        "an end-to-end file; export it again with 'zoo export NAME'");
    }
    let session;
    try {
      session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
    } catch (error) {
      throw new Error(`onnxruntime-web cannot load ${file}: ${String(error.message ?? error).split("\n")[0]}`);
    }
    if (session.inputNames[0] !== meta.input_name || !session.outputNames.includes(meta.runOutput)) {
      throw new Error(`the graph's input/output (${session.inputNames[0]}, ${session.outputNames.join(", ")}) ` +
        `are not the ones its metadata names (${meta.input_name}, ${meta.runOutput})`);
    }
    const model = new Model(entry, meta, session, []);
    model.ort = ort;
    try {
      model.samples = await model.testSamples();
    } catch (error) { // the model still runs; only the test samples to pick from are missing
      model.samplesProblem = `its test samples could not be read (${error.message}), so there are none to pick`;
    }
    return model;
  }

  /**
   * The test vectors as raw samples the page can offer, with the outputs they must give: an end-to-end
   * file's hold the raw samples themselves; model.onnx's hold preprocessed ones, turned back into raw.
   */
  async testSamples() {
    const { entry, meta } = this;
    if (!entry.test_input || !entry.test_output) return [];
    const inputs = readTensor(await fetchBytes(entry.test_input, "the test inputs"));
    const outputs = readTensor(await fetchBytes(entry.test_output, "the test outputs"));
    const count = inputs.dims[0];
    const inputType = meta.endToEnd ? meta.raw_input_dtype : "float32";
    if (inputs.dtype !== inputType || outputs.dtype !== "float32") {
      throw new Error(`test vectors of types ${inputs.dtype} and ${outputs.dtype}, not ${inputType} and float32`);
    }
    if (inputs.data.length !== count * meta.rawSize || outputs.data.length !== count * meta.outputSize) {
      throw new Error(`test vectors of shapes [${inputs.dims}] and [${outputs.dims}] do not fit the metadata`);
    }
    const samples = [];
    for (let i = 0; i < count; i++) {
      const x = inputs.data.subarray(i * meta.rawSize, (i + 1) * meta.rawSize);
      const raw = meta.endToEnd ? Float64Array.from(x, Number) : unpreprocess(meta, x);
      if (raw === null) continue; // not exactly invertible: left out rather than shown approximately
      // zoo's test vectors of a classifier are the first test sample of each class, in class order.
      const label = meta.task === "classification" && count === meta.class_names.length ? meta.class_names[i] : null;
      samples.push({ index: i, raw, label, expected: Array.from(outputs.data.subarray(i * meta.outputSize, (i + 1) * meta.outputSize)) });
    }
    return samples;
  }

  /**
   * The model's outputs for `count` raw samples (flat): {input, outputs, probabilities} per sample, where
   * input is what the graph got (the raw values for an end-to-end file, else the preprocessed ones) and
   * probabilities null for regression. Queued behind every other inference.
   */
  predict(raw, count = 1) {
    return enqueue(async () => {
      const { meta, ort } = this;
      let tensor, input;
      if (meta.endToEnd) {
        ({ tensor, values: input } = rawTensor(ort, meta, raw, count));
      } else {
        input = preprocess(meta, raw, count);
        tensor = new ort.Tensor("float32", input, [count, ...meta.input_shape.slice(1)]);
      }
      const result = await this.session.run({ [meta.input_name]: tensor });
      const data = result[meta.runOutput].data;
      const rows = [];
      for (let i = 0; i < count; i++) {
        const outputs = Array.from(data.subarray(i * meta.outputSize, (i + 1) * meta.outputSize));
        const probabilities = meta.task !== "classification" ? null
          : meta.output_kind === "logits" && !meta.endToEnd ? softmax(outputs) : outputs;
        rows.push({ input: input.slice(i * meta.rawSize, (i + 1) * meta.rawSize), outputs, probabilities });
      }
      return rows;
    });
  }
}
