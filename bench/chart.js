'use strict';

// Hand-written SVG chart of a benchmark summary (no dependencies): one panel of grouped
// bars per figure (req/s, client CPU µs per request, and RSS per idle socket when
// measured), one group per scenario, one bar per client.

const COLORS = ['#e4572e', '#4c78a8', '#72b7b2', '#54a24b', '#b279a2', '#9d755d', '#f2cf5b', '#ff9da6', '#79706e'];

const WIDTH = 960;
const MARGIN_LEFT = 70;
const MARGIN_RIGHT = 20;
const PANEL_HEIGHT = 230;
const PANEL_GAP = 78;

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceStep(raw) {
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

function compact(v) {
  if (v == null) return '';
  if (v >= 1e6) return `${+(v / 1e6).toFixed(v >= 1e7 ? 0 : 1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(v >= 1e4 ? 0 : 1)}k`;
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1).replace(/\.0$/, '');
  return v.toFixed(2).replace(/0$/, '').replace(/\.0$/, '');
}

// A group label on one line, or split at its commas onto two when it would be wider
// than its group (≈5.8 px per character at the group font size).
function labelLines(label, groupW) {
  const fits = (t) => t.length * 5.8 <= groupW * 0.95;
  if (fits(label)) return [label];
  const parts = label.split(', ');
  let best = null;
  for (let i = 1; i < parts.length; i++) {
    const a = parts.slice(0, i).join(', ');
    const b = parts.slice(i).join(', ');
    const width = Math.max(a.length, b.length);
    if (!best || width < best.width) best = { lines: [`${a},`, b], width };
  }
  return best ? best.lines : [label];
}

// groups: [{ label, values: [number|null per client] }]
function panel(y, title, groups, clients) {
  const out = [];
  const plotW = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
  const top = y + 28;
  const bottom = top + PANEL_HEIGHT - 60;
  const h = bottom - top;
  const max = Math.max(0, ...groups.flatMap((g) => g.values.filter((v) => v != null)));
  const step = max > 0 ? niceStep(max / 4) : 1;
  const yMax = Math.max(step, Math.ceil(max / step) * step);
  const scale = (v) => bottom - (v / yMax) * h;

  out.push(`<text x="${MARGIN_LEFT}" y="${y + 14}" class="panel">${esc(title)}</text>`);
  for (let t = 0; t <= yMax + step / 1e6; t += step) {
    const ty = scale(t).toFixed(1);
    out.push(`<line x1="${MARGIN_LEFT}" x2="${WIDTH - MARGIN_RIGHT}" y1="${ty}" y2="${ty}" class="grid"/>`);
    out.push(`<text x="${MARGIN_LEFT - 6}" y="${ty}" dy="3.5" class="tick" text-anchor="end">${compact(t) || '0'}</text>`);
  }

  const groupW = plotW / groups.length;
  const barW = Math.min(34, (groupW * 0.8) / clients.length);
  groups.forEach((g, gi) => {
    const gx = MARGIN_LEFT + gi * groupW + (groupW - barW * clients.length) / 2;
    g.values.forEach((v, ci) => {
      if (v == null) return;
      const x = gx + ci * barW;
      const by = scale(v);
      out.push(`<rect x="${(x + 1).toFixed(1)}" y="${by.toFixed(1)}" width="${(barW - 2).toFixed(1)}" ` +
        `height="${(bottom - by).toFixed(1)}" fill="${COLORS[ci % COLORS.length]}">` +
        `<title>${esc(`${clients[ci]} · ${g.label}: ${compact(v)}`)}</title></rect>`);
      out.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${(by - 3).toFixed(1)}" class="value" ` +
        `text-anchor="middle">${compact(v)}</text>`);
    });
    const cx = (MARGIN_LEFT + (gi + 0.5) * groupW).toFixed(1);
    const lines = labelLines(g.label, groupW);
    const tspans = lines.map((l, li) => `<tspan x="${cx}" dy="${li === 0 ? 0 : 13}">${esc(l)}</tspan>`).join('');
    out.push(`<text x="${cx}" y="${bottom + 16}" class="group" text-anchor="middle">${tspans}</text>`);
  });
  out.push(`<line x1="${MARGIN_LEFT}" x2="${WIDTH - MARGIN_RIGHT}" y1="${bottom}" y2="${bottom}" class="axis"/>`);
  return out.join('\n');
}

// summary: { title, subtitle, clients: [names], scenarios: [{ name, rps: [], cpu: [] }],
//            idle: { name, kib: [] } | null }
function renderChart(summary) {
  const { clients } = summary;
  const panels = [
    {
      title: 'Requests per second (higher is better)',
      groups: summary.scenarios.map((s) => ({ label: s.name, values: s.rps })),
    },
    {
      title: 'Client CPU µs per request (lower is better)',
      groups: summary.scenarios.map((s) => ({ label: s.name, values: s.cpu })),
    },
  ];
  if (summary.idle && summary.idle.kib.some((v) => v != null)) {
    panels.push({
      title: 'RSS per idle keep-alive socket, KiB (lower is better)',
      groups: [{ label: summary.idle.name, values: summary.idle.kib }],
    });
  }

  // Legend entries flow into as many rows as the width needs.
  const legend = [];
  let lx = MARGIN_LEFT;
  let row = 0;
  clients.forEach((name, i) => {
    const w = 36 + name.length * 6.2;
    if (lx > MARGIN_LEFT && lx + w > WIDTH - 10) {
      row += 1;
      lx = MARGIN_LEFT;
    }
    legend.push({ name, i, x: lx, y: 56 + row * 18 });
    lx += w;
  });
  const headerH = 86 + row * 18;
  const height = headerH + panels.length * PANEL_HEIGHT + (panels.length - 1) * (PANEL_GAP - 60) + 10;
  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
    `viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif">`);
  parts.push(`<style>
  .title { font-size: 17px; font-weight: 600; fill: #222; }
  .subtitle { font-size: 11.5px; fill: #555; }
  .panel { font-size: 13px; font-weight: 600; fill: #333; }
  .tick { font-size: 10px; fill: #666; }
  .value { font-size: 9px; fill: #333; }
  .group { font-size: 11.5px; fill: #333; }
  .legend { font-size: 11.5px; fill: #333; }
  .grid { stroke: #e6e6e6; stroke-width: 1; }
  .axis { stroke: #999; stroke-width: 1; }
</style>`);
  parts.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  parts.push(`<text x="${MARGIN_LEFT}" y="24" class="title">${esc(summary.title)}</text>`);
  parts.push(`<text x="${MARGIN_LEFT}" y="42" class="subtitle">${esc(summary.subtitle)}</text>`);
  for (const { name, i, x, y } of legend) {
    parts.push(`<rect x="${x}" y="${y}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
    parts.push(`<text x="${x + 17}" y="${y + 10}" class="legend">${esc(name)}</text>`);
  }
  panels.forEach((p, i) => {
    parts.push(panel(headerH + i * (PANEL_HEIGHT + PANEL_GAP - 60), p.title, p.groups, clients));
  });
  parts.push('</svg>\n');
  return parts.join('\n');
}

module.exports = { renderChart };
