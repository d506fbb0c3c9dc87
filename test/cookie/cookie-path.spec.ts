import { pathMatches, requestPathOf } from '../../src/cookie/cookie-path.js';

describe('cookie path-match (RFC 6265 5.1.4)', () => {
  it.each([
    ['/', '/', true],
    ['/', '/anything/below', true],
    ['/foo', '/foo', true],
    ['/foo', '/foo/', true],
    ['/foo', '/foo/bar', true],
    ['/foo', '/foobar', false],
    ['/foo', '/fo', false],
    ['/foo', '/', false],
    ['/foo', '/FOO', false],
    ['/foo/', '/foo/bar', true],
    ['/foo/', '/foo', false],
    ['/foo/bar', '/foo', false],
  ])('cookie path %j, request path %j: %s', (cookiePath, requestPath, matches) => {
    expect(pathMatches(cookiePath, requestPath)).toBe(matches);
  });

  it.each([
    ['/a/b?x=1', '/a/b'],
    ['/a/b', '/a/b'],
    ['/?', '/'],
    ['http://example.com/a/b?x', '/a/b'],
    ['*', '/'],
    ['', '/'],
    [undefined, '/'],
  ])('the path of request target %j is %j', (target, path) => {
    expect(requestPathOf(target)).toBe(path);
  });
});
