/**
 * `promise`'s answer, or `late()`'s after `ms` (a value, or a throw that rejects): then the promise's own
 * late answer or failure is dropped. One bound for every store call and check that must not wait forever.
 */
export function withinTime<T, L>(promise: Promise<T>, ms: number, late: () => L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<L>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(late());
      } catch (error) {
        reject(error);
      }
    }, ms);
  });
  promise.catch(() => undefined); // a failure after the bound is nobody's to handle
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}
