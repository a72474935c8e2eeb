// The pictures in docs/plots/, drawn as SVG from data committed beside them:
// the seed sweeps (docs/data/sweeps.json, the tables of docs/robustness.md
// and docs/scale.md) and the loss curves of a clean and a failing seed (the
// shipped results in www/gallery/). No dependencies: a few lines of SVG are
// less than a plotting library.
// Usage: node scripts/plots.mjs [OUT_DIR]   (default docs/plots; tests/e2e/plots.test.mjs
//        draws them again and compares)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const COLORS = ['#3558d6', '#e09a1f', '#2a9d55'];
const SERIES = { total: '#1d1d1f', faithfulness: '#3558d6', minimality: '#d6453d', simplicity: '#2a9d55' };
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/`/g, '');
const num = (v) => Number(v.toFixed(1));

function svg(w, h, body) {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="system-ui, sans-serif" font-size="12">\n`
    + `<rect width="${w}" height="${h}" fill="#ffffff"/>\n${body.join('\n')}\n</svg>\n`;
}

/** Grouped horizontal bars of counts out of 10; a missing value is "not run". */
function sweepChart({ title, groups, rows }) {
  const L = 270, W = 820, barH = 13, gap = 10, T = 50;
  const rowH = groups.length * barH + gap;
  const H = T + rows.length * rowH + 30;
  const sx = (v) => L + (W - L - 160) * v / 10;
  const out = [`<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`];
  groups.forEach((g, k) => {
    out.push(`<rect x="${L + k * 150}" y="30" width="10" height="10" fill="${COLORS[k]}"/><text x="${L + k * 150 + 14}" y="39">${esc(g)}</text>`);
  });
  for (const v of [0, 5, 9, 10]) {
    out.push(`<line x1="${num(sx(v))}" y1="${T - 4}" x2="${num(sx(v))}" y2="${H - 26}" stroke="${v === 9 ? '#b3261e' : '#e2e2e0'}"${v === 9 ? ' stroke-dasharray="4 3"' : ''}/>`);
    out.push(`<text x="${num(sx(v)) - 4}" y="${H - 12}" fill="#6b6b70">${v}</text>`);
  }
  out.push(`<text x="${L + groups.length * 150}" y="39" fill="#b3261e">dashed: 9 of 10, the bar</text>`);
  rows.forEach((r, i) => {
    const y0 = T + i * rowH;
    out.push(`<text x="${L - 8}" y="${y0 + rowH / 2}" text-anchor="end">${esc(r.short || r.label)}</text>`);
    r.values.forEach((v, k) => {
      const y = y0 + k * barH;
      if (v == null) out.push(`<text x="${L + 4}" y="${y + 10}" fill="#9a9aa0" font-size="10">not run</text>`);
      else out.push(`<rect x="${L}" y="${y}" width="${num(sx(v) - L)}" height="${barH - 2}" fill="${COLORS[k]}"/><text x="${num(sx(v)) + 4}" y="${y + 10}" font-size="10">${v}</text>`);
    });
  });
  return svg(W, H, out);
}

/** Loss curves (log scale) of shipped results, one panel each, on shared axes. */
function lossPanels(entries) {
  const PW = 420, PH = 240, L = 50, T = 40, B = 30;
  const all = entries.flatMap((e) => e.report.record.history.flatMap((s) => Object.keys(SERIES).map((k) => s[k]))).filter((v) => v > 0);
  const lo = Math.floor(Math.log10(Math.min(...all))), hi = Math.ceil(Math.log10(Math.max(...all)));
  const out = [];
  entries.forEach((e, p) => {
    const x0 = p * PW, h = e.report.record.history, xmax = h[h.length - 1].step;
    const sx = (s) => x0 + L + (PW - L - 20) * s / xmax;
    const sy = (v) => T + (PH - T - B) * (1 - (Math.log10(v) - lo) / (hi - lo));
    const m = e.views.metrics;
    out.push(`<text x="${x0 + 10}" y="16" font-weight="bold">${esc(e.title)}</text>`);
    out.push(`<text x="${x0 + 10}" y="31" fill="#6b6b70">${esc(`${e.model}, seed ${e.seed}: MMCS ${m.mmcs.toFixed(3)}, ML2R ${m.ml2r.toFixed(3)}`)}</text>`);
    for (let k = lo; k <= hi; k++) {
      out.push(`<line x1="${x0 + L}" y1="${num(sy(10 ** k))}" x2="${x0 + PW - 20}" y2="${num(sy(10 ** k))}" stroke="#e2e2e0"/><text x="${x0 + 8}" y="${num(sy(10 ** k)) + 4}" fill="#6b6b70">1e${k}</text>`);
    }
    out.push(`<text x="${x0 + L}" y="${PH - 8}" fill="#6b6b70">0</text><text x="${x0 + PW - 20}" y="${PH - 8}" fill="#6b6b70" text-anchor="end">step ${xmax}</text>`);
    for (const [k, c] of Object.entries(SERIES)) {
      const pts = h.filter((s) => s[k] > 0).map((s) => `${num(sx(s.step))},${num(sy(s[k]))}`);
      out.push(`<polyline fill="none" stroke="${c}" stroke-width="1.3" points="${pts.join(' ')}"/>`);
    }
  });
  Object.entries(SERIES).forEach(([k, c], i) => {
    out.push(`<rect x="${10 + i * 110}" y="${PH + 4}" width="10" height="10" fill="${c}"/><text x="${24 + i * 110}" y="${PH + 13}">${k}</text>`);
  });
  return svg(PW * entries.length, PH + 22, out);
}

export function plots() {
  const sweeps = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs/data/sweeps.json')));
  const shipped = (n) => JSON.parse(fs.readFileSync(path.join(ROOT, `www/gallery/${n}.json`)));
  return {
    'seed-sweeps.svg': sweepChart(sweeps.robustness),
    'scale-sweep.svg': sweepChart(sweeps.scale),
    'losses-clean-and-failed.svg': lossPanels([shipped('tms-5-2-apd'), shipped('tms-5-2-apd-paper-failed')]),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = path.resolve(process.argv[2] || path.join(ROOT, 'docs/plots'));
  fs.mkdirSync(out, { recursive: true });
  for (const [name, text] of Object.entries(plots())) {
    fs.writeFileSync(path.join(out, name), text);
    console.log(`plots: ${path.join(out, name)} (${text.length} bytes)`);
  }
}
