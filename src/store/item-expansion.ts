/**
 * Items expand on read to at most this many times a store's `maxItemBytes`: far above what real
 * JSON compresses to (about 5-20x), and a bound on what a hostile or corrupted gzip (1,000x) can
 * make a request inflate. Items larger than it are refused at write, so every write reads back.
 */
export const MAX_EXPANSION = 32;
