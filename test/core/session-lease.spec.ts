import { describe, expect, it } from 'vitest';
import { acquisitionOf, attachLease, leaseOf, type SessionLease } from '../../src/core/session-lease.js';

const lease = { behavior: 'required' } as unknown as SessionLease;

describe('a request’s lease', () => {
  it('is kept on the request under a symbol: no key, no JSON, no enumerable trace', () => {
    const request = { url: '/' };
    const loading = Promise.resolve(lease);
    attachLease(request, loading);
    expect(acquisitionOf(request)).toBe(loading);
    expect(leaseOf(request)).toBeUndefined(); // still loading
    attachLease(request, lease);
    expect(leaseOf(request)).toBe(lease);
    expect(Object.keys(request)).toEqual(['url']);
    expect(JSON.stringify(request)).toBe('{"url":"/"}');
  });

  it('works for a key that cannot take a property (a frozen GraphQL context), and keeps keys apart', () => {
    const frozen = Object.freeze({ id: 1 });
    const other = Object.freeze({ id: 2 });
    attachLease(frozen, lease);
    expect(leaseOf(frozen)).toBe(lease);
    expect(leaseOf(other)).toBeUndefined();
  });
});
