// Decoding of the service's tensor payloads (base64 of row-major little-endian values).

import type { TensorPayload } from "./types.js";

/** A decoded tensor; float16, bfloat16 and int32 payloads are widened to float32. */
export interface Tensor {
  shape: number[];
  values: Float32Array;
}

/** Bits of an IEEE half (binary16) as a number. */
function half(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const ELEMENT_BYTES: Record<string, number> = { float32: 4, int32: 4, float16: 2, bfloat16: 2 };

/** Decodes a payload into a typed array; throws on an unknown dtype or a byte count that doesn't match the shape. */
export function decodeTensor(payload: TensorPayload): Tensor {
  const size = ELEMENT_BYTES[payload.dtype];
  if (size === undefined) throw new Error(`unsupported tensor dtype ${payload.dtype}`);
  const bytes = base64Bytes(payload.data);
  const count = payload.shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== count * size)
    throw new Error(`a ${payload.dtype} tensor of shape [${payload.shape}] needs ${count * size} bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    switch (payload.dtype) {
      case "float32":
        values[i] = view.getFloat32(i * 4, true);
        break;
      case "int32":
        values[i] = view.getInt32(i * 4, true);
        break;
      case "float16":
        values[i] = half(view.getUint16(i * 2, true));
        break;
      case "bfloat16": {
        const scratch = new DataView(new ArrayBuffer(4));
        scratch.setUint32(0, view.getUint16(i * 2, true) << 16, true);
        values[i] = scratch.getFloat32(0, true);
        break;
      }
    }
  }
  return { shape: payload.shape, values };
}

/** The bytes of a base64 string (RFC 4648). */
export function base64Bytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
