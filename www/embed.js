// @ts-check
// Embeddable cards: `#embed=<card>` (a card's id without `card-`) shows that
// card alone, sized to its frame, with a Run button and a link to the whole
// playground; the rest of the link (model, method, seed, settings) works as
// usual. Every card offers "Embed": the iframe snippet that shows it so.

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** The page's address without its hash, as an iframe elsewhere must name it. */
const pageUrl = () => `${location.origin}${location.pathname}`;

/**
 * The page as one card: true if `name` names a card, which then fills the
 * page with `run` behind its Run button; false (the whole page) otherwise.
 * @param {string} name
 * @param {() => void} run
 */
export function embedCard(name, run) {
  const card = document.getElementById(`card-${name}`);
  if (!name || !card || !card.classList.contains('card')) return false;
  document.body.classList.add('embed');
  card.classList.add('embedded');
  $('views').dataset.testid = 'embed';
  const bar = document.createElement('div');
  bar.className = 'embed-bar';
  const b = document.createElement('button');
  b.textContent = 'Run it here';
  b.dataset.testid = 'embed-run';
  b.addEventListener('click', run);
  const status = document.createElement('span');
  status.className = 'note';
  status.id = 'embed-status';
  const a = document.createElement('a');
  const whole = new URLSearchParams(location.hash.slice(1));
  whole.delete('embed');
  a.href = `${pageUrl()}#${whole}`;
  a.target = '_blank';
  a.rel = 'noopener';
  a.textContent = 'Open the whole playground';
  bar.append(b, status, a);
  card.querySelector('h2')?.after(bar);
  return true;
}

/** Mirrors the page's status into an embedded card's bar. @param {string} text */
export function embedStatus(text) {
  const el = document.getElementById('embed-status');
  if (el) el.textContent = text;
}

/** Gives every card an "Embed" button that shows (and copies) its iframe snippet. */
export function offerEmbeds() {
  for (const card of document.querySelectorAll('section.card[id^="card-"]')) {
    const name = card.id.slice('card-'.length);
    const h2 = card.querySelector('h2');
    if (!h2) continue;
    const b = cardButton(h2, 'Embed', 'embed-button', 'An iframe snippet that shows this card alone, for a course page or slides');
    b.addEventListener('click', () => {
      let box = /** @type {HTMLTextAreaElement | null} */ (card.querySelector('textarea.embed-snippet'));
      if (box) { box.remove(); return; }
      box = document.createElement('textarea');
      box.className = 'embed-snippet';
      box.readOnly = true;
      box.dataset.testid = 'embed-snippet';
      const params = new URLSearchParams(location.hash.slice(1));
      params.delete('chapter');
      params.set('embed', name);
      const title = (h2.firstChild?.textContent ?? name).trim();
      box.value = `<iframe src="${pageUrl()}#${params}" width="720" height="560" style="border:0" title="${title.replace(/"/g, '&quot;')}" loading="lazy"></iframe>`;
      h2.after(box);
      box.select();
      navigator.clipboard?.writeText(box.value).catch(() => {});
    });
  }
}

/**
 * A small button at the end of a card's title.
 * @param {HTMLElement} h2
 * @param {string} text
 * @param {string} testid
 * @param {string} title
 */
export function cardButton(h2, text, testid, title) {
  const b = document.createElement('button');
  b.className = 'embed-button';
  b.textContent = text;
  b.dataset.testid = testid;
  b.title = title;
  h2.append(' ', b);
  return b;
}
