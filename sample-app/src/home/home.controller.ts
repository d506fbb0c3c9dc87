import { Controller, Get, Header } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { readFileSync } from 'node:fs';

/** The page, read once at startup: plain HTML and a little JS, no build step (from `src/home/` and `dist/home/` alike). */
const PAGE = readFileSync(new URL('../../public/index.html', import.meta.url), 'utf8');

/**
 * `GET /`: the page you can click (sign in, who am I, a cart, the counter and its "send 50 at once").
 * Takes no `@Session()`: serving it costs no store call and sets no cookie; the page's own requests do.
 */
@Controller()
export class HomeController {
  private page?: string;

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  // The page changes with the build, not per user: no caching surprises while you edit it.
  @Header('Cache-Control', 'no-store')
  home(): string {
    // The adapter is known once the application exists (a testing module makes controllers before it).
    this.page ??= PAGE.replaceAll('{{adapter}}', this.adapterHost.httpAdapter.getType() === 'fastify' ? 'Fastify' : 'Express');
    return this.page;
  }
}
