// An export's zoo metadata (README, "ONNX exports") and everything the page derives from it:
// whether the file is end-to-end (raw samples in, probabilities or values out: the graph preprocesses),
// else the preprocessing in float32 exactly as numpy does it, its exact inverse for the test vectors and
// softmax for logits (exports without end_to_end/model.onnx); and which editor an input gets.
// Nothing here knows any one model.

export const SCHEMAS = ["zoo.onnx/1", "zoo.onnx/2"];
const REQUIRED = ["model_name", "description", "dataset", "task", "class_names", "target_names", "input_name",
  "input_shape", "raw_input_shape", "raw_input_dtype", "preprocess_scale", "preprocess_offset", "preprocessing",
  "output_name", "output_shape", "output_kind", "metric_name", "metric_value", "metric_test_samples"];
const JSON_KEYS = ["class_names", "target_names", "input_shape", "raw_input_shape", "output_shape",
  "preprocess_scale", "preprocess_offset", "feature_names", "raw_input_range"];
// An end-to-end file's raw input: raw_input_dtype → onnxruntime-web's tensor type and its typed array.
const RAW_TENSORS = {
  uint8: ["uint8", Uint8Array], int8: ["int8", Int8Array], uint16: ["uint16", Uint16Array], int16: ["int16", Int16Array],
  int32: ["int32", Int32Array], int64: ["int64", BigInt64Array], float32: ["float32", Float32Array],
  float64: ["float64", Float64Array],
};
const INTEGER_RANGES = { uint8: [0, 255], int8: [-128, 127], uint16: [0, 65535], int16: [-32768, 32767] };
// Editors: an image canvas for small greyscale pictures, a box per value for short rows.
const MAX_FEATURE_BOXES = 64;

/** The parsed metadata of one export; throws an Error saying what is wrong (and how to fix it). */
export function parseMetadata(props) {
  const schema = props.zoo_metadata_schema;
  if (!SCHEMAS.includes(schema)) {
    throw new Error(`not a zoo export (metadata schema ${JSON.stringify(schema ?? null)}, expected ` +
      `${SCHEMAS.join(" or ")}); export it with 'zoo export NAME'`);
  }
  const missing = REQUIRED.filter(key => !(key in props));
  if (missing.length) throw new Error(`its metadata lacks ${missing.join(", ")}; export it again with 'zoo export NAME'`);
  const meta = { ...props };
  for (const key of JSON_KEYS.filter(k => k in props)) {
    try {
      meta[key] = JSON.parse(props[key]);
    } catch (error) {
      throw new Error(`its metadata value ${key} is not JSON (${error.message}); export it again`);
    }
  }
  meta.metric_value = Number(props.metric_value);
  const problem = typeProblem(meta);
  if (problem) throw new Error(`bad metadata: ${problem}; export it again with 'zoo export NAME'`);
  meta.scale = Float32Array.from([meta.preprocess_scale].flat());
  meta.offset = Float32Array.from([meta.preprocess_offset].flat());
  meta.rawSize = meta.raw_input_shape.reduce((a, b) => a * b, 1);
  meta.outputSize = meta.output_shape.slice(1).reduce((a, b) => a * b, 1);
  meta.labels = meta.task === "classification" ? meta.class_names : meta.target_names;
  meta.endToEnd = props.end_to_end === "true";
  meta.runOutput = meta.output_name; // the output the page reads
  if (meta.endToEnd) {
    const expected = meta.task === "classification" ? ["probabilities", "class"] : ["y"];
    let outputs;
    try {
      outputs = JSON.parse(props.end_to_end_outputs ?? "null");
    } catch (error) {
      outputs = null;
    }
    if (JSON.stringify(outputs) !== JSON.stringify(expected)) {
      throw new Error(`bad metadata: end_to_end_outputs must be ${JSON.stringify(expected)} for ${meta.task}; export it again with 'zoo export NAME'`);
    }
    if (!(meta.raw_input_dtype in RAW_TENSORS)) {
      throw new Error(`its raw input dtype ${JSON.stringify(meta.raw_input_dtype)} has no onnxruntime-web tensor type here`);
    }
    meta.runOutput = expected[0];
  }
  return meta;
}

/**
 * An end-to-end file's input for `count` raw samples (flat): an onnxruntime-web tensor of the raw dtype
 * and shape [count, ...raw_input_shape], and its values as plain numbers (what the page reports as fed).
 */
export function rawTensor(ort, meta, raw, count) {
  const [type, Typed] = RAW_TENSORS[meta.raw_input_dtype];
  const data = Typed === BigInt64Array ? BigInt64Array.from(raw, v => BigInt(v)) : Typed.from(raw);
  return { tensor: new ort.Tensor(type, data, [count, ...meta.raw_input_shape]), values: Array.from(data, Number) };
}

function typeProblem(meta) {
  const strings = v => Array.isArray(v) && v.every(s => typeof s === "string");
  const dims = v => Array.isArray(v) && v.every(d => Number.isInteger(d) && d > 0);
  const batched = v => Array.isArray(v) && v.length > 1 && v[0] === null && dims(v.slice(1));
  if (!strings(meta.class_names) || !strings(meta.target_names)) return "class_names and target_names must be lists of strings";
  if (!batched(meta.input_shape) || !batched(meta.output_shape)) return "input_shape and output_shape must be [null, ...positive integers]";
  if (!dims(meta.raw_input_shape) || !meta.raw_input_shape.length) return "raw_input_shape must be a list of positive integers";
  const features = meta.raw_input_shape.at(-1);
  for (const key of ["preprocess_scale", "preprocess_offset"]) {
    const values = [meta[key]].flat();
    const perFeature = Array.isArray(meta[key]);
    if (!values.every(Number.isFinite) || (perFeature && values.length !== features)) {
      return `${key} must be a finite number or a list of ${features} (one per value along the raw sample's last axis)`;
    }
  }
  if (!["classification", "regression"].includes(meta.task)) return `task ${JSON.stringify(meta.task)}`;
  if (!["probabilities", "logits", "values"].includes(meta.output_kind)) return `output_kind ${JSON.stringify(meta.output_kind)}`;
  const size = shape => shape.reduce((a, b) => a * b, 1);
  if (size(meta.raw_input_shape) !== size(meta.input_shape.slice(1))) return "raw_input_shape and input_shape hold different numbers of values";
  const labels = meta.task === "classification" ? meta.class_names : meta.target_names;
  if (labels.length !== size(meta.output_shape.slice(1))) return `${labels.length} class or target names for ${size(meta.output_shape.slice(1))} outputs`;
  if ("feature_names" in meta && !(strings(meta.feature_names) && meta.feature_names.length === size(meta.raw_input_shape))) {
    return "feature_names must be a list with one name per raw value";
  }
  return null;
}

/**
 * Raw samples (flat, `count` of them, each of raw_input_shape) as the model's float32 input, exactly as
 * numpy computes `raw.astype(float32) * float32(scale) + float32(offset)`: each product and each sum
 * rounded to float32 (doing one in float64 then rounding to float32 gives the same, correctly rounded
 * result). A list of scales or offsets applies one per value along the raw sample's last axis.
 */
export function preprocess(meta, raw, count) {
  const { scale, offset } = meta;
  const features = meta.raw_input_shape.at(-1);
  const x = new Float32Array(count * meta.rawSize);
  for (let k = 0; k < x.length; k++) {
    const f = k % features;
    x[k] = Math.fround(Math.fround(Math.fround(raw[k]) * scale[scale.length > 1 ? f : 0]) + offset[offset.length > 1 ? f : 0]);
  }
  return x;
}

/**
 * The raw values whose preprocessing gives exactly the float32 `input` (a test vector), or null when
 * no raw value of the metadata's raw dtype does: the test vectors hold preprocessed samples, and the
 * page offers a sample only if it can give its raw values exactly.
 */
export function unpreprocess(meta, input) {
  const features = meta.raw_input_shape.at(-1);
  const integer = INTEGER_RANGES[meta.raw_input_dtype];
  const raw = new Float64Array(input.length);
  for (let k = 0; k < input.length; k++) {
    const f = k % features;
    const s = meta.scale[meta.scale.length > 1 ? f : 0], o = meta.offset[meta.offset.length > 1 ? f : 0];
    const guess = (input[k] - o) / s;
    // The float64 quotient is within a few roundings of the answer: try it and its neighbours.
    const candidates = integer ? [0, -1, 1].map(d => Math.round(guess) + d) : [0, -1, 1, -2, 2, -3, 3].map(d => stepFloat32(guess, d));
    const exact = candidates.find(r => (!integer || (r >= integer[0] && r <= integer[1])) &&
      Math.fround(Math.fround(Math.fround(r) * s) + o) === input[k]);
    if (exact === undefined) return null;
    raw[k] = exact;
  }
  return raw;
}

/** The float32 `steps` representable values away from `value` (rounded to float32 first). */
function stepFloat32(value, steps) {
  const f = new Float32Array([value]), bits = new Int32Array(f.buffer);
  for (let n = 0; n < Math.abs(steps); n++) {
    if (f[0] === 0) f[0] = Math.sign(steps) * 1.401298464324817e-45;
    else bits[0] += (f[0] > 0) === (steps > 0) ? 1 : -1;
  }
  return f[0];
}

/**
 * The range a raw value must lie in, [min, max] (whole numbers for integer dtypes), or null for floats:
 * the export's raw_input_range where it has one (the token ids an Embedding knows), else its dtype's.
 */
export function rawRange(meta) {
  return meta.raw_input_range ?? INTEGER_RANGES[meta.raw_input_dtype] ?? null;
}

/** Softmax in float64 of one row of logits (the same max-shifted form numpy code uses). */
export function softmax(row) {
  const top = Math.max(...row);
  const e = Array.from(row, v => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map(v => v / sum);
}

/**
 * Which editor the page gives the input: "image" (a canvas to draw on), "picture" (colour test images and a
 * file picker), "curve" (a slider), "table" (boxes) or "none".
 */
export function editorKind(meta) {
  const shape = meta.raw_input_shape;
  const greyscale = shape.length === 2 || (shape.length === 3 && shape[2] === 1);
  const colour = shape.length === 3 && (shape[2] === 3 || shape[2] === 4);
  if (meta.raw_input_dtype === "uint8" && greyscale && shape[0] >= 8 && shape[1] >= 8) return "image";
  if (meta.raw_input_dtype === "uint8" && colour && shape[0] >= 8 && shape[1] >= 8) return "picture";
  if (meta.rawSize === 1 && meta.task === "regression" && meta.outputSize === 1) return "curve";
  return meta.rawSize <= MAX_FEATURE_BOXES ? "table" : "none";
}

/** The shortest decimal text that reads back as exactly this float32 value. */
export function float32Text(value) {
  for (let digits = 1; digits < 10; digits++) {
    const text = String(Number(value.toPrecision(digits)));
    if (Math.fround(Number(text)) === value) return text;
  }
  return String(value);
}
