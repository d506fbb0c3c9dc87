import type { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { Logger } from '@nestjs/common';
import type { SessionStateLockLostReason } from '../errors/session-state.errors.js';
import type { BoundedCall, SendOptions } from './bounded-call.js';
import { awsErrorName, isConditionFailure } from './dynamodb-errors.js';
import { Attr, type DynamoDBItem } from './dynamodb-session-record.js';
import { attemptsOf, writeClauses, wroteOrUnknown, type Prune, type PruneBook, type WriteClauses } from './write-tokens.js';

/** What a fenced write did: written (the record as written, when its answer carried it), or refused and why. */
export type FencedWrite = { readonly written: DynamoDBItem | undefined } | { readonly refused: SessionStateLockLostReason };

/**
 * Conditional writes and what their refusals mean. A fenced write is conditional on a lock id and
 * records a write token (`write-tokens.ts`), so that a write whose answer was lost and that the SDK
 * retried is recognised as applied, and one that was refused says why.
 */
export class FencedWrites {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly call: BoundedCall,
    private readonly tableName: string,
    private readonly prunes: PruneBook,
    private readonly logger: Logger,
    private readonly clock: () => number,
  ) {}

  /**
   * Runs one write fenced by a lock id that records `writeToken`. Answers true when it was applied:
   * by this call, or by an earlier attempt of it whose answer was lost (the SDK's retry then fails
   * the condition, and the record shows our token among the last writes'; see `wroteOrUnknown`).
   * Otherwise answers why it was refused, from the record that failed the condition.
   */
  async write(operation: string, writeToken: string, run: (options: SendOptions) => Promise<unknown>): Promise<true | SessionStateLockLostReason> {
    try {
      await this.call(operation, run);
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      if (wroteOrUnknown(error.Item, writeToken, attemptsOf(error), operation, this.tableName)) return true;
      return refusalOf(error.Item, this.clock());
    }
  }

  /**
   * A fenced `UpdateItem` under `lockId` (see `write`), built by `build` with its write clauses:
   * why, when not applied; else the record as written when the answer carried it. Should DynamoDB
   * refuse what the lock's holder prunes (`ValidationException`: nothing was applied), the write is
   * sent again without it, so a prune can never stand in the way of a save.
   */
  async update(lockId: string, writeToken: string, build: (write: WriteClauses) => UpdateItemCommand): Promise<FencedWrite> {
    const send = async (prune: Prune | undefined): Promise<FencedWrite> => {
      const update = build(writeClauses(writeToken, prune));
      let written: DynamoDBItem | undefined;
      const run = (options: SendOptions) => this.client.send(update, options).then((answer) => (written = answer.Attributes));
      const outcome = await this.write('UpdateItem', writeToken, run);
      return outcome === true ? { written } : { refused: outcome };
    };
    const prune = this.prunes.get(lockId);
    try {
      const result = await send(prune);
      this.prunes.forget(lockId);
      return result;
    } catch (error) {
      if (prune === undefined || awsErrorName(error) !== 'ValidationException') throw error;
      this.prunes.forget(lockId);
      this.logger.warn(`DynamoDB refused to prune a session record's outdated bookkeeping; the write was made without it (${awsErrorName(error)}).`);
      return send(undefined);
    }
  }

  /** Runs one conditional write; answers false when its condition failed (nothing was written). */
  async conditional(operation: string, run: (options: SendOptions) => Promise<unknown>): Promise<boolean> {
    try {
      await this.call(operation, run);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}

/** Why a fenced write was refused, from the record that failed its condition (`ALL_OLD`). */
function refusalOf(record: DynamoDBItem | undefined, now: number): SessionStateLockLostReason {
  // Absent, or expired (a removed session is an expired stub): gone. Otherwise another lock holds it, or none.
  const expires = Number(record?.[Attr.expires]?.N);
  return record && expires > now ? 'lock_mismatch' : 'item_gone';
}
