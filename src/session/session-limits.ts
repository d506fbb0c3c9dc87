/** ASP.NET's upper bound for a session timeout: one year, in minutes. */
export const MAX_TIMEOUT_MINUTES = 525_600;
