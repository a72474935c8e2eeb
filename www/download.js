// @ts-check
// "Download" on every card: the card's figure as a PNG at twice the pixel
// ratio, for slides. The charts are redrawn at that ratio for the picture
// (not scaled up), then back at the screen's. They are drawn on canvases,
// so there is no vector (SVG) form to offer.
import { redrawAt } from './draw.js';
import { cardButton } from './embed.js';

const RATIO = 2;

/**
 * The card's title, its charts and their captions where they sit on screen, on white.
 * @param {HTMLElement} card
 * @returns {Promise<Blob | null>}
 */
function cardPng(card) {
  const shown = (/** @type {Element} */ e) => /** @type {HTMLElement} */ (e).offsetParent !== null;
  const canvases = /** @type {HTMLCanvasElement[]} */ ([...card.querySelectorAll('canvas')].filter(shown));
  if (!canvases.length) return Promise.resolve(null);
  const captions = [...card.querySelectorAll('figcaption')].filter(shown);
  const rects = [...canvases, ...captions].map((e) => e.getBoundingClientRect());
  const left = Math.min(...rects.map((r) => r.left)), top = Math.min(...rects.map((r) => r.top));
  const right = Math.max(...rects.map((r) => r.right)), bottom = Math.max(...rects.map((r) => r.bottom));
  const pad = 12, head = 26;
  const out = document.createElement('canvas');
  out.width = Math.ceil((right - left + 2 * pad) * RATIO);
  out.height = Math.ceil((bottom - top + 2 * pad + head) * RATIO);
  const ctx = /** @type {CanvasRenderingContext2D} */ (out.getContext('2d'));
  ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, out.width, out.height);
  ctx.scale(RATIO, RATIO);
  ctx.fillStyle = '#1d1d1f'; ctx.font = '600 15px system-ui, sans-serif'; ctx.textBaseline = 'top';
  ctx.fillText(titleOf(card), pad, pad);
  const at = (/** @type {DOMRect} */ r) => [r.left - left + pad, r.top - top + pad + head];
  for (const c of canvases) {
    const r = c.getBoundingClientRect();
    const [x, y] = at(r);
    ctx.drawImage(c, x, y, r.width, r.height);
  }
  ctx.font = '12px system-ui, sans-serif'; ctx.fillStyle = '#444';
  for (const cap of captions) {
    const [x, y] = at(cap.getBoundingClientRect());
    ctx.fillText(cap.textContent ?? '', x, y);
  }
  return new Promise((resolve) => out.toBlob(resolve, 'image/png'));
}

/** @param {HTMLElement} card */
const titleOf = (card) => (card.querySelector('h2')?.firstChild?.textContent ?? card.id).trim();

/** Gives every card a "Download" button: its figure as a PNG, drawn at twice the pixel ratio. */
export function offerDownloads() {
  for (const card of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('section.card[id^="card-"]'))) {
    const h2 = card.querySelector('h2');
    if (!h2) continue;
    const b = cardButton(h2, 'Download', 'download-button', 'This card\'s figure as a PNG at twice the pixel ratio, for slides (its charts are drawn on canvas: no SVG)');
    b.addEventListener('click', async () => {
      redrawAt(RATIO);
      let png = null;
      try { png = await cardPng(card); } finally { redrawAt(0); }
      if (!png) { b.textContent = 'Nothing drawn yet'; setTimeout(() => { b.textContent = 'Download'; }, 2000); return; }
      const a = document.createElement('a');
      a.href = URL.createObjectURL(png);
      a.download = `apd-${card.id.slice('card-'.length)}.png`;
      a.click(); setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    });
  }
}
