/** What a `@Res()` handler answers with on either adapter: Express's `status()`, Fastify's `code()`. */
export interface EitherResponse {
  status?: (code: number) => { send(body: string): unknown };
  code?: (code: number) => { send(body: string): unknown };
}

/** Sends `body` with `status` from a `@Res()` handler, on Express or Fastify. */
export function sendStatus(res: EitherResponse, status: number, body: string): unknown {
  return (typeof res.status === 'function' ? res.status(status) : res.code!(status)).send(body);
}
