// One entry's export in the page: its bytes fetched once, its metadata read from those very bytes,
// an onnxruntime-web session on them, its test vectors turned back into raw samples, and `predict`,
// the one path every editor's input takes to the model.

import { editorKind, parseMetadata, preprocess, softmax, unpreprocess } from "./metadata.js";
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
  }

  /** Load an entry of the server's index; throws an Error whose message the page shows. */
  static async load(entry, ort) {
    const bytes = await fetchBytes(entry.model, "model.onnx");
    let meta;
    try {
      meta = parseMetadata(readMetadataProps(bytes));
    } catch (error) {
      throw new Error(`model.onnx cannot be used: ${error.message}`);
    }
    let session;
    try {
      session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
    } catch (error) {
      throw new Error(`onnxruntime-web cannot load model.onnx: ${String(error.message ?? error).split("\n")[0]}`);
    }
    if (session.inputNames[0] !== meta.input_name || !session.outputNames.includes(meta.output_name)) {
      throw new Error(`the graph's input/output (${session.inputNames[0]}, ${session.outputNames.join(", ")}) ` +
        `are not the ones its metadata names (${meta.input_name}, ${meta.output_name})`);
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

  /** The test vectors as raw samples the page can offer, with the outputs Keras gave for them. */
  async testSamples() {
    const { entry, meta } = this;
    if (!entry.test_input || !entry.test_output) return [];
    const inputs = readTensor(await fetchBytes(entry.test_input, "the test inputs"));
    const outputs = readTensor(await fetchBytes(entry.test_output, "the test outputs"));
    const count = inputs.dims[0];
    if (inputs.data.length !== count * meta.rawSize || outputs.data.length !== count * meta.outputSize) {
      throw new Error(`test vectors of shapes [${inputs.dims}] and [${outputs.dims}] do not fit the metadata`);
    }
    const samples = [];
    for (let i = 0; i < count; i++) {
      const x = inputs.data.subarray(i * meta.rawSize, (i + 1) * meta.rawSize);
      const raw = unpreprocess(meta, x);
      if (raw === null) continue; // not exactly invertible: left out rather than shown approximately
      // zoo's test vectors of a classifier are the first test sample of each class, in class order.
      const label = meta.task === "classification" && count === meta.class_names.length ? meta.class_names[i] : null;
      samples.push({ index: i, raw, label, expected: Array.from(outputs.data.subarray(i * meta.outputSize, (i + 1) * meta.outputSize)) });
    }
    return samples;
  }

  /**
   * The model's outputs for `count` raw samples (flat): {input, outputs, probabilities} per sample,
   * probabilities null for regression. Queued behind every other inference.
   */
  predict(raw, count = 1) {
    return enqueue(async () => {
      const { meta, ort } = this;
      const input = preprocess(meta, raw, count);
      const tensor = new ort.Tensor("float32", input, [count, ...meta.input_shape.slice(1)]);
      const result = await this.session.run({ [meta.input_name]: tensor });
      const data = result[meta.output_name].data;
      const rows = [];
      for (let i = 0; i < count; i++) {
        const outputs = Array.from(data.subarray(i * meta.outputSize, (i + 1) * meta.outputSize));
        const probabilities = meta.task !== "classification" ? null
          : meta.output_kind === "logits" ? softmax(outputs) : outputs;
        rows.push({ input: input.subarray(i * meta.rawSize, (i + 1) * meta.rawSize), outputs, probabilities });
      }
      return rows;
    });
  }
}
