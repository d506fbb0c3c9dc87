import { constants } from 'node:buffer';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { SessionStateCorruptError, SessionStateTooLargeError } from '../errors/session-state.errors.js';
import { MAX_EXPANSION } from '../store/item-expansion.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * How the serialized items are stored: the attribute's type is the marker, so no separate flag
 * can ever disagree with the data. `S`: the JSON string verbatim. `B`: gzip of its UTF-8 bytes.
 * zlib runs on libuv's thread pool, so compressing a 400 KB session does not block the event loop.
 */
export class SessionItemsCodec {
  /** Largest items (UTF-8 bytes) a read decompresses (`MAX_EXPANSION` × `maxItemBytes`); more is a corrupt record. */
  private readonly maxExpandedBytes: number;

  /**
   * @param thresholdBytes compress items larger than this (UTF-8 bytes); `null`: never.
   * @param maxItemBytes the store's `maxItemBytes`: what a read inflates is bounded by a multiple of it.
   */
  constructor(
    private readonly thresholdBytes: number | null,
    maxItemBytes: number,
  ) {
    this.maxExpandedBytes = Math.min(maxItemBytes * MAX_EXPANSION, constants.MAX_LENGTH);
  }

  async encode(items: string): Promise<AttributeValue> {
    if (this.thresholdBytes === null) return { S: items };
    const size = Buffer.byteLength(items, 'utf8');
    if (size <= this.thresholdBytes) return { S: items };
    // What a read would refuse to decompress is not written (uncompressed, the layout's limit refuses it).
    if (size > this.maxExpandedBytes) throw new SessionStateTooLargeError(size, this.maxExpandedBytes);
    const raw = Buffer.from(items, 'utf8');
    const compressed = await gzipAsync(raw);
    // Incompressible data (already compressed or random) is kept as is: gzip would only add bytes.
    return compressed.length < raw.length ? { B: compressed } : { S: items };
  }

  async decode(value: AttributeValue | undefined): Promise<string> {
    if (value?.S !== undefined) return value.S;
    if (value?.B !== undefined) {
      try {
        // zlib stops at the bound (RangeError) instead of inflating a hostile gzip into memory.
        return (await gunzipAsync(value.B, { maxOutputLength: this.maxExpandedBytes })).toString('utf8');
      } catch (error) {
        throw corruptRecord(`its compressed items could not be decompressed within ${this.maxExpandedBytes} bytes`, error);
      }
    }
    throw corruptRecord('it has no items attribute of type S or B');
  }
}

/** A stored session that cannot be read. Messages name the defect, never the session id. */
export function corruptRecord(defect: string, cause?: unknown): SessionStateCorruptError {
  const message = `A stored DynamoDB session record is corrupt: ${defect}.`;
  return new SessionStateCorruptError(message, cause === undefined ? undefined : { cause });
}
