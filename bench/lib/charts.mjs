// Hand-written SVG charts of the bench's results: horizontal grouped bars, one row per figure,
// one bar per series (ours, the peer). No charting dependency: a few rectangles and labels.
const COLORS = { ours: '#2f6fdf', peer: '#9aa3ad', before: '#c9d6ee', gap: '#7fb27f' };
const escape = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * rows: [{ label, values: { ours: n, peer: n } }]; series: ['ours', 'peer']; unit for the labels.
 * Bars of one row share the scale of the row's largest value when `perRow` (figures of different
 * size side by side), otherwise one scale for the whole chart.
 */
export function barChart({ title, rows, series, unit = '', perRow = false, format = (v) => v.toFixed(0), names = {} }) {
  const width = 780;
  const labelWidth = 270;
  const barHeight = 16;
  const gap = 10;
  const top = 48;
  const plot = width - labelWidth - 90;
  const rowHeight = series.length * barHeight + gap;
  const height = top + rows.length * rowHeight + 10;
  const globalMax = Math.max(...rows.flatMap((r) => series.map((s) => r.values[s] ?? 0)), 1e-9);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="600">${escape(title)}</text>`,
  ];
  let legendX = labelWidth;
  series.forEach((s) => {
    const x = legendX;
    legendX += 30 + 7 * String(names[s] ?? s).length;
    parts.push(
      `<rect x="${x}" y="30" width="10" height="10" fill="${COLORS[s] ?? '#666'}"/>`,
      `<text x="${x + 14}" y="39">${escape(names[s] ?? s)}</text>`,
    );
  });
  rows.forEach((row, r) => {
    const y0 = top + r * rowHeight;
    const max = perRow ? Math.max(...series.map((s) => row.values[s] ?? 0), 1e-9) : globalMax;
    parts.push(`<text x="${labelWidth - 8}" y="${y0 + (series.length * barHeight) / 2 + 4}" text-anchor="end">${escape(row.label)}</text>`);
    series.forEach((s, i) => {
      const value = row.values[s];
      if (value === undefined) return;
      const w = Math.max(1, (value / max) * plot);
      const y = y0 + i * barHeight;
      parts.push(
        `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight - 2}" fill="${COLORS[s] ?? '#666'}"/>`,
        `<text x="${(labelWidth + w + 4).toFixed(1)}" y="${y + barHeight - 5}">${escape(format(value) + unit)}</text>`,
      );
    });
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
