import { lastValueFrom, defer } from 'rxjs';
const N = 200000;
const run = async () => { const req = { headers: {}, s: new Map() }; return lastValueFrom(defer(async () => { const c = req.s.get('count') ?? 0; req.s.set('count', c + 1); return { count: c + 1 }; })); };
for (let i = 0; i < 20000; i++) await run();
const t = performance.now();
for (let i = 0; i < N; i++) await run();
console.log('baseline µs', (((performance.now() - t) * 1000) / N).toFixed(2));
