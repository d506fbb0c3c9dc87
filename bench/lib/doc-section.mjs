// Each bench owns one section of docs/BENCHMARKS.md, between `<!-- name:start -->` and
// `<!-- name:end -->`: it rewrites its own and leaves the others (and any hand-written text) alone.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export function writeSection(file, name, body) {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const section = `${start}\n${body.trim()}\n${end}`;
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const from = doc.indexOf(start);
  const to = doc.indexOf(end);
  let next;
  if (from >= 0 && to > from) next = doc.slice(0, from) + section + doc.slice(to + end.length);
  else {
    // A new section goes after the title, before the other sections.
    const afterTitle = doc.indexOf('\n') + 1;
    next = `${doc.slice(0, afterTitle)}\n${section}\n${doc.slice(afterTitle)}`;
  }
  writeFileSync(file, next.replace(/\n{3,}/g, '\n\n'));
}
