export interface InMemorySessionStateStoreOptions {
  /** How often expired sessions are swept (and the expire callback fired), ms. Default 60 000. */
  sweepIntervalMs?: number;
  /** Clock in epoch ms; for tests that need to move time. Default `Date.now`. */
  clock?: () => number;
}
