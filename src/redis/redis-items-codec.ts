import { constants } from 'node:buffer';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { SessionStateTooLargeError } from '../errors/session-state.errors.js';
import { MAX_EXPANSION } from '../store/item-expansion.js';
import { corruptRecord } from './redis-errors.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export { MAX_EXPANSION };

/** Items as stored: the hash field is the marker (`i`: the JSON verbatim, `g`: its gzip), so no flag can disagree with the data. */
export interface EncodedItems {
  readonly field: 'i' | 'g';
  readonly value: string | Buffer;
}

/**
 * Compresses items above a threshold (zlib runs on libuv's pool: a large session does not block
 * the event loop) and refuses items over the size limit before anything is written.
 */
export class RedisItemsCodec {
  /** Largest items (UTF-8 bytes) a read decompresses; more is a corrupt record. */
  private readonly maxExpandedBytes: number;

  /** @param thresholdBytes compress items larger than this (UTF-8 bytes); `null`: never. */
  constructor(
    private readonly thresholdBytes: number | null,
    private readonly maxItemBytes: number,
  ) {
    this.maxExpandedBytes = Math.min(maxItemBytes * MAX_EXPANSION, constants.MAX_LENGTH);
  }

  async encode(items: string): Promise<EncodedItems> {
    const size = Buffer.byteLength(items, 'utf8');
    // What a read would refuse to decompress is not written.
    if (size > this.maxExpandedBytes) throw new SessionStateTooLargeError(size, this.maxExpandedBytes);
    let encoded: EncodedItems = { field: 'i', value: items };
    if (this.thresholdBytes !== null && size > this.thresholdBytes) {
      const compressed = await gzipAsync(Buffer.from(items, 'utf8'));
      // Incompressible data (already compressed or random) is kept as is: gzip would only add bytes.
      if (compressed.length < size) encoded = { field: 'g', value: compressed };
    }
    const stored = typeof encoded.value === 'string' ? size : encoded.value.length;
    if (stored > this.maxItemBytes) throw new SessionStateTooLargeError(stored, this.maxItemBytes);
    return encoded;
  }

  /** The items of a record from its `i` and `g` fields (as read: Buffers, or null when absent). */
  async decode(plain: Buffer | null, compressed: Buffer | null): Promise<string> {
    if (plain !== null) return plain.toString('utf8');
    if (compressed !== null) {
      try {
        // zlib stops at the bound (RangeError) instead of inflating the rest into memory.
        return (await gunzipAsync(compressed, { maxOutputLength: this.maxExpandedBytes })).toString('utf8');
      } catch (error) {
        throw corruptRecord(`its compressed items could not be decompressed within ${this.maxExpandedBytes} bytes`, error);
      }
    }
    throw corruptRecord('it has no items');
  }
}
