// A small SVG line chart, written without any dependency: throughput against concurrency, one
// panel per connection mode, one line per system, a logarithmic y axis (so a 2x gap looks the
// same at any height, and the much faster "direct" line fits with the others).

export interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  /** One point per x value; undefined where there is no figure. `lo`/`hi`: the range of the runs. */
  points: ({ y: number; lo?: number; hi?: number } | undefined)[];
}

export interface Panel {
  title: string;
  series: Series[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function throughputChart(opts: { title: string; subtitle: string; xLabels: string[]; xTitle: string; yTitle: string; panels: Panel[] }): string {
  const panelW = 380;
  const panelH = 300;
  const left = 70;
  const top = 70;
  const gap = 40;
  const legendH = 30 + 18 * Math.max(...opts.panels.map((p) => p.series.length));
  const width = left + opts.panels.length * panelW + (opts.panels.length - 1) * gap + 40;
  const height = top + panelH + 50 + legendH;
  const ys = opts.panels.flatMap((p) => p.series.flatMap((s) => s.points.flatMap((pt) => (pt ? [pt.y, pt.lo ?? pt.y, pt.hi ?? pt.y] : []))));
  const positive = ys.filter((y) => y > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(positive.length ? Math.min(...positive) : 1)));
  const hi = Math.pow(10, Math.ceil(Math.log10(positive.length ? Math.max(...positive) : 10)));
  const decades = Math.max(1, Math.log10(hi / lo));
  const yPos = (y: number): number => top + panelH - (Math.log10(y / lo) / decades) * panelH;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(opts.title)}</text>`);
  out.push(`<text x="${width / 2}" y="40" text-anchor="middle" fill="#555">${esc(opts.subtitle)}</text>`);
  opts.panels.forEach((panel, pi) => {
    const x0 = left + pi * (panelW + gap);
    const xPos = (i: number): number => x0 + 30 + (i * (panelW - 60)) / Math.max(1, opts.xLabels.length - 1);
    out.push(`<text x="${x0 + panelW / 2}" y="${top - 10}" text-anchor="middle" font-weight="bold">${esc(panel.title)}</text>`);
    out.push(`<rect x="${x0}" y="${top}" width="${panelW}" height="${panelH}" fill="none" stroke="#999"/>`);
    // gridlines at 1, 2, 5 per decade
    for (let d = lo; d <= hi * 1.0001; d *= 10) {
      for (const m of [1, 2, 5]) {
        const v = d * m;
        if (v > hi * 1.0001) break;
        const y = yPos(v);
        out.push(`<line x1="${x0}" x2="${x0 + panelW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="${m === 1 ? '#ccc' : '#eee'}"/>`);
        if (pi === 0 || m === 1)
          out.push(`<text x="${x0 - 5}" y="${(y + 4).toFixed(1)}" text-anchor="end" fill="#333">${v >= 1000 ? `${v / 1000}k` : v}</text>`);
      }
    }
    opts.xLabels.forEach((label, i) => {
      out.push(`<line x1="${xPos(i)}" x2="${xPos(i)}" y1="${top + panelH}" y2="${top + panelH + 5}" stroke="#999"/>`);
      out.push(`<text x="${xPos(i)}" y="${top + panelH + 18}" text-anchor="middle">${esc(label)}</text>`);
    });
    out.push(`<text x="${x0 + panelW / 2}" y="${top + panelH + 36}" text-anchor="middle" fill="#333">${esc(opts.xTitle)}</text>`);
    for (const s of panel.series) {
      const pts = s.points.map((p, i) => (p && p.y > 0 ? { x: xPos(i), ...p } : undefined)).filter((p): p is NonNullable<typeof p> => !!p);
      if (!pts.length) continue;
      const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
      if (pts.length > 1)
        out.push(
          `<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map((p) => `${p.x.toFixed(1)},${yPos(p.y).toFixed(1)}`).join(' ')}"/>`,
        );
      for (const p of pts) {
        if (p.lo !== undefined && p.hi !== undefined && p.hi > p.lo) {
          out.push(
            `<line x1="${p.x.toFixed(1)}" x2="${p.x.toFixed(1)}" y1="${yPos(p.lo).toFixed(1)}" y2="${yPos(p.hi).toFixed(1)}" stroke="${s.color}" stroke-width="1"/>`,
          );
        }
        out.push(
          `<circle cx="${p.x.toFixed(1)}" cy="${yPos(p.y).toFixed(1)}" r="3.5" fill="${s.color}"><title>${esc(`${s.name}: ${p.y.toFixed(0)}`)}</title></circle>`,
        );
        out.push(`<text x="${(p.x + 6).toFixed(1)}" y="${(yPos(p.y) - 6).toFixed(1)}" font-size="10" fill="${s.color}">${p.y.toFixed(0)}</text>`);
      }
    }
    if (pi === 0) {
      out.push(`<text transform="translate(${x0 - 50},${top + panelH / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(opts.yTitle)}</text>`);
    }
  });
  // legend: the series of the first panel (all panels use the same ones)
  const ly = top + panelH + 60;
  (opts.panels[0]?.series ?? []).forEach((s, i) => {
    const y = ly + i * 18;
    out.push(`<line x1="${left}" x2="${left + 30}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${left + 38}" y="${y + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
