/**
 * docs/ID-HEADER.md's CORS recipe, in a real headless Chromium: a page of another origin names its
 * session by `x-session-id` through fetch (the browser sends a preflight for the header), reads the
 * new id only when the app exposes the header, and its cookie-less requests never ride a cookie.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { ADAPTERS } from '../support/test-app.js';
import { sessionApps } from './session-app.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
const HEADER = 'x-session-id';

describe.skipIf(!HAS_CHROMIUM)('the id header from a page of another origin, in headless Chromium', () => {
  let browser: Browser;
  let pageServer: Server;
  let pageOrigin: string;

  beforeAll(async () => {
    browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] });
    // The other origin: an empty page on another port.
    pageServer = createServer((_req, res) => res.setHeader('content-type', 'text/html').end('<!doctype html><title>client</title>'));
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
    pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => pageServer?.close(resolve));
  });

  describe.each(ADAPTERS)('on %s', (adapter) => {
    const apps = sessionApps();
    let page: Page;

    beforeEach(async () => {
      page = await (await browser.createBrowserContext()).newPage();
      await page.goto(pageOrigin);
    });
    afterEach(async () => {
      await page?.browserContext().close();
    });

    /** The test app with idHeader, CORS as `cors` says, listening; its origin. */
    async function appWithCors(cors: Parameters<INestApplication['enableCors']>[0]): Promise<string> {
      const t = await apps.start(adapter, { idHeader: HEADER, secret: 'a secret of sixteen+ chars' }, { configure: (app) => app.enableCors(cors) });
      await t.app.listen(0, '127.0.0.1');
      return `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    }

    /** fetch() in the page: POST `path` with the header set to `value`; the status, body and the header as script sees it. */
    const post = (origin: string, path: string, value: string) =>
      page.evaluate(
        async (url, name, v) => {
          const res = await fetch(url, { method: 'POST', headers: { [name]: v } });
          return { status: res.status, body: await res.json(), header: res.headers.get(name) };
        },
        `${origin}${path}`,
        HEADER,
        value,
      );

    it('with allowedHeaders and exposedHeaders: the page gets its id, and its next requests name the session by it', async () => {
      const origin = await appWithCors({ origin: pageOrigin, allowedHeaders: ['content-type', HEADER], exposedHeaders: [HEADER] });
      const first = await post(origin, '/count', '');
      expect(first).toMatchObject({ status: 200, body: { count: 1 } });
      expect(first.header).toMatch(/^[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}$/);
      const second = await post(origin, '/count', first.header!);
      expect(second).toEqual({ status: 200, body: { count: 2 }, header: null });
    });

    it('without exposedHeaders the session is saved but script cannot read its id; without allowedHeaders the preflight refuses the request', async () => {
      const unexposed = await appWithCors({ origin: pageOrigin, allowedHeaders: ['content-type', HEADER] });
      expect(await post(unexposed, '/count', '')).toEqual({ status: 200, body: { count: 1 }, header: null });
      const refused = await appWithCors({ origin: pageOrigin, allowedHeaders: ['content-type'] });
      await expect(post(refused, '/count', '')).rejects.toThrow(/Failed to fetch/);
    });
  });
});
