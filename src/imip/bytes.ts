/** A view of `bytes` as a Buffer (the same memory, no copy); a Buffer is returned as it is. */
export function bufferView(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
