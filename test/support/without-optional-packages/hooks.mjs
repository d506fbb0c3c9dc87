// Module resolution hooks: the packages named in BLOCKED_PACKAGES resolve as if not installed.
const blocked = new Set((process.env.BLOCKED_PACKAGES ?? '').split(',').filter(Boolean));

export async function resolve(specifier, context, next) {
  const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
  if (blocked.has(name)) {
    throw Object.assign(new Error(`Cannot find package '${specifier}' (blocked by the test)`), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}
