// Just enough of the protobuf wire format to read what the page needs from zoo's files, with no
// protobuf library: an ONNX ModelProto's metadata_props (onnxruntime-web's InferenceSession
// exposes input and output names and shapes, not the model's metadata) and a TensorProto's values
// (the test vectors: float32, or the raw dtype of an end-to-end file's inputs). Field numbers are onnx.proto's; anything else in the message is skipped.

const MODEL_METADATA_PROPS = 14; // ModelProto.metadata_props: repeated StringStringEntryProto {key = 1, value = 2}
const TENSOR = { dims: 1, dataType: 2, floatData: 4, name: 8, rawData: 9, dataLocation: 14 };
const FLOAT = 1; // TensorProto.DataType.FLOAT
// TensorProto.DataType → its numpy name and typed array (raw_data is little-endian, as these are in WebAssembly).
export const DATA_TYPES = {
  1: ["float32", Float32Array], 2: ["uint8", Uint8Array], 3: ["int8", Int8Array], 4: ["uint16", Uint16Array],
  5: ["int16", Int16Array], 6: ["int32", Int32Array], 7: ["int64", BigInt64Array], 11: ["float64", Float64Array],
  12: ["uint32", Uint32Array], 13: ["uint64", BigUint64Array],
};
const EXTERNAL = 1; // TensorProto.DataLocation.EXTERNAL
const utf8 = new TextDecoder("utf-8", { fatal: true });

class Reader {
  constructor(bytes, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
  }

  more() {
    return this.pos < this.end;
  }

  varint() { // as a Number: exact up to 2^53, far beyond any length or dimension here
    let value = 0;
    for (let scale = 1, i = 0; i < 10; i++, scale *= 128) {
      if (this.pos >= this.end) throw new Error("truncated (a number runs past the end)");
      const byte = this.bytes[this.pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
    }
    throw new Error("malformed (a number longer than 10 bytes)");
  }

  key() { // [field number, wire type]
    const key = this.varint();
    return [Math.floor(key / 8), key % 8];
  }

  advance(length) {
    if (length > this.end - this.pos) throw new Error("truncated (a field runs past the end)");
    this.pos += length;
    return this.pos;
  }

  chunk() { // a length-delimited field's bytes, as a sub-reader
    const length = this.varint();
    const start = this.pos;
    return new Reader(this.bytes, start, this.advance(length));
  }

  text() {
    const part = this.chunk();
    return utf8.decode(this.bytes.subarray(part.pos, part.end));
  }

  skip(wireType) {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.advance(8);
    else if (wireType === 2) this.chunk();
    else if (wireType === 5) this.advance(4);
    else throw new Error(`malformed (wire type ${wireType})`);
  }
}

/** The ONNX model's metadata_props as {key: value}; throws when the bytes are not a readable ModelProto. */
export function readMetadataProps(bytes) {
  const reader = new Reader(bytes);
  const props = {};
  while (reader.more()) {
    const [field, wireType] = reader.key();
    if (field === MODEL_METADATA_PROPS && wireType === 2) {
      const entry = reader.chunk();
      let key = "", value = "";
      while (entry.more()) {
        const [f, w] = entry.key();
        if (f === 1 && w === 2) key = entry.text();
        else if (f === 2 && w === 2) value = entry.text();
        else entry.skip(w);
      }
      props[key] = value;
    } else {
      reader.skip(wireType);
    }
  }
  return props;
}

/**
 * A TensorProto as {name, dims, dtype, data}: data a Float32Array for float, else the typed array of its
 * type (BigInt64Array for int64; see DATA_TYPES), which must be stored in raw_data as numpy_helper does it.
 * Throws for other types or external data.
 */
export function readTensor(bytes) {
  const reader = new Reader(bytes);
  const tensor = { name: "", dims: [], dataType: 0, raw: null, floats: [] };
  while (reader.more()) {
    const [field, wireType] = reader.key();
    if (field === TENSOR.dims && wireType === 0) tensor.dims.push(reader.varint());
    else if (field === TENSOR.dims && wireType === 2) {
      const packed = reader.chunk();
      while (packed.more()) tensor.dims.push(packed.varint());
    } else if (field === TENSOR.dataType && wireType === 0) tensor.dataType = reader.varint();
    else if (field === TENSOR.name && wireType === 2) tensor.name = reader.text();
    else if (field === TENSOR.rawData && wireType === 2) {
      const part = reader.chunk();
      tensor.raw = bytes.subarray(part.pos, part.end);
    } else if (field === TENSOR.floatData && wireType === 2) {
      const packed = reader.chunk();
      tensor.floats.push(...littleEndianFloats(bytes.subarray(packed.pos, packed.end)));
    } else if (field === TENSOR.floatData && wireType === 5) {
      tensor.floats.push(...littleEndianFloats(bytes.subarray(reader.pos, reader.advance(4))));
    } else if (field === TENSOR.dataLocation && wireType === 0 && reader.varint() === EXTERNAL) {
      throw new Error("its data is in an external file, which the page does not read");
    } else reader.skip(wireType);
  }
  const type = DATA_TYPES[tensor.dataType];
  if (!type) throw new Error(`data type ${tensor.dataType}, which the page does not read`);
  const [dtype, Typed] = type;
  let data;
  if (tensor.dataType === FLOAT) data = tensor.raw ? littleEndianFloats(tensor.raw) : Float32Array.from(tensor.floats);
  else if (tensor.raw) {
    if (tensor.raw.length % Typed.BYTES_PER_ELEMENT) throw new Error(`${dtype} data of ${tensor.raw.length} bytes`);
    data = new Typed(Uint8Array.from(tensor.raw).buffer); // a copy: aligned, whatever the offset in the file
  } else data = new Typed(0);
  const count = tensor.dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`${data.length} values for dimensions [${tensor.dims}]`);
  return { name: tensor.name, dims: tensor.dims, dtype, data };
}

function littleEndianFloats(bytes) {
  if (bytes.length % 4) throw new Error("float data of a length that is not a multiple of 4");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(4 * i, true));
}
