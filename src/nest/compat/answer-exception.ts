import { HttpException } from '@nestjs/common';
import type { ServerResponse } from 'node:http';

/**
 * Answers an error from outside Nest's pipeline (the mount runs before it, so no exception filter
 * does): a session error's status and message (`toHttpException`), anything else a bare 500.
 */
export function answerException(response: object, error: unknown): void {
  const raw = ((response as { raw?: ServerResponse }).raw ?? response) as ServerResponse;
  if (raw.headersSent || raw.destroyed) return;
  const status = error instanceof HttpException ? error.getStatus() : 500;
  const answer = error instanceof HttpException ? error.getResponse() : 'Internal server error';
  const body = JSON.stringify(typeof answer === 'string' ? { statusCode: status, message: answer } : answer);
  raw.statusCode = status;
  raw.setHeader('content-type', 'application/json; charset=utf-8');
  raw.setHeader('content-length', Buffer.byteLength(body));
  raw.end(body);
}
