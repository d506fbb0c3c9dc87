/** ASP.NET's upper bound for a session timeout: one year, in minutes. */
export const MAX_TIMEOUT_MINUTES = 525_600;

/** Refuses a session timeout that is not a whole number of minutes from 1 to `MAX_TIMEOUT_MINUTES`. */
export function assertTimeoutMinutes(minutes: number): void {
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_TIMEOUT_MINUTES) {
    throw new RangeError(`Session timeout must be a whole number of minutes from 1 to ${MAX_TIMEOUT_MINUTES}.`);
  }
}
