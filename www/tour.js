// @ts-check
// The guided tour: short chapters in plain words, each with the formula
// where it helps, one highlighted view, and something to do. Optional and
// linkable (`#chapter=N`). The texts are this project's own.

/**
 * What a chapter's action may do on the page.
 * @typedef {object} TourContext
 * @property {(name: string) => unknown} show  opens a shipped result
 * @property {(name: string) => unknown} grid  shows a shipped seeds grid
 * @property {(path: string, value: string) => void} set  changes a setting
 * @property {() => void} run  presses Run
 * @property {() => void} pair  opens an input with two features on in the one-input view
 * @property {(method: import('./protocol.js').Method) => unknown} method  picks the method
 */
/** @typedef {{ title: string, view: string, html: string, action?: { label: string, run: (ctx: TourContext) => unknown } }} Chapter */

/**
 * A chapter: its title, its text (HTML: a few paragraphs, `<code>` for
 * formulas), the card it highlights (an element id) and, optionally, an
 * action `{ label, run }` whose `run(ctx)` gets the page's controls
 * (`ctx.show(name)` opens a shipped result, `ctx.set(path, value)` changes
 * a setting, `ctx.run()` presses Run, `ctx.pair()` opens an input with two
 * features on in the one-input view, `ctx.method(name)` picks the method,
 * `ctx.grid(name)` shows a shipped seeds grid).
 * @type {Chapter[]}
 */
export const CHAPTERS = [
  {
    title: 'Superposition: five features in two dimensions',
    view: 'card-geometry',
    html: `<p>The network being taken apart is a <em>toy model of superposition</em>: five input features pass through a
      layer of only two numbers and back, <code>h = x W</code>, <code>y = ReLU(h W<sup>T</sup> + b)</code>, and it is
      trained to give back its input. Each feature is on in only 5% of the samples, so they rarely meet, and the
      network can afford to give each a direction in the plane: the five lines of the first polygon, a pentagon.
      The negative bias and the ReLU clear away the small overlaps.</p>
      <p>No single weight here belongs to one feature: every number of <code>W</code> serves several. Yet the network
      does five separate things. APD tries to find those five things in the weights.</p>`,
    action: { label: 'Show the finished example', run: (ctx) => ctx.show('tms-5-2-apd') },
  },
  {
    title: 'A parameter component: a piece of the weights',
    view: 'card-components',
    html: `<p>APD splits the weights into <em>C</em> parameter components <code>P<sub>1</sub> ... P<sub>C</sub></code>:
      matrices of the same shape as <code>W</code>, each of low rank, that add up to it:
      <code>P<sub>1</sub> + ... + P<sub>C</sub> = W</code>. Each is stored as two thin factors,
      <code>P<sub>c</sub> = A<sub>c</sub> B<sub>c</sub></code>.</p>
      <p>For this network the ideal answer is known: component c is feature c's row of <code>W</code> and zeros
      elsewhere, one mechanism per component. The small maps show what APD found; each should light up one row.</p>`,
  },
  {
    title: 'Faithfulness: the pieces must add up',
    view: 'card-losses',
    html: `<p>The first loss asks the components to sum to the weights:
      <code>L<sub>faithfulness</sub> = ||W - &Sigma;<sub>c</sub> P<sub>c</sub>||<sup>2</sup> / N</code>
      (N weights). It is the blue curve: it falls by several orders of magnitude. On its own it is easy to satisfy
      (one component equal to <code>W</code> would do); the next two losses make the split meaningful.</p>`,
    action: { label: 'Run it yourself', run: (ctx) => ctx.run() },
  },
  {
    title: 'Attributions and top-k: which pieces does this input use?',
    view: 'card-sample',
    html: `<p>For each input, APD asks how much each component matters: the squared change of every output when the
      weights move a little along that component, <code>A<sub>c</sub>(x) = &Sigma;<sub>o</sub>
      (&part;y<sub>o</sub>/&part;&theta; &middot; P<sub>c</sub>)<sup>2</sup></code>. Then <em>batch top-k</em> keeps, over a
      whole batch of B samples, the k&middot;B largest attributions: on average k components per sample (k = 0.211
      here, since most samples have no feature on).</p>
      <p>The highlighted view takes one input at a time: its attribution to every component, the components top-k
      keeps for it (coloured), and the output of those components alone against the target's. With one feature
      alone on, that feature's own component has by far the largest attribution. Top-k may keep a neighbour's
      component too: the target itself lets a little of each feature leak onto its neighbours' outputs (the small
      black bars), and that leak needs the neighbour's component. The attribution matrix above shows every one-hot
      input at once (click a row to open it here).</p>`,
    action: { label: 'Look at an input with two features on', run: (ctx) => ctx.pair() },
  },
  {
    title: 'Minimality: few pieces must be enough',
    view: 'card-losses',
    html: `<p>The second loss runs the network with only the chosen components and asks for the target's output:
      <code>L<sub>minimality</sub> = MSE(f(x; &Sigma;<sub>c in top-k</sub> P<sub>c</sub>), f(x; W))</code>, the red curve.
      A component that a sample uses gets trained to do that sample's work; one it does not use is left out.
      So each input comes to be explained by few components, the ones it needs.</p>`,
  },
  {
    title: 'Simplicity: each piece as simple as it can be',
    view: 'card-components',
    html: `<p>The third loss charges the components that are used for their rank: the Schatten-p norm of their
      singular values, <code>L<sub>simplicity</sub> = &Sigma;<sub>c</sub> s<sub>c</sub> &Sigma;<sub>j</sub>
      &lambda;<sub>c,j</sub><sup>p</sup></code> with p = 1 here, weighted by &alpha;. It is the green curve. It pushes each
      component towards rank one, which for this network is one feature's row.</p>
      <p>Too much of it and APD prefers a cheaper, wrong split. Try a larger &alpha; and run again.</p>`,
    action: { label: 'Set \u03b1 = 3', run: (ctx) => ctx.set('apd.coeff_simplicity', '3') },
  },
  {
    title: 'Reading the results',
    view: 'card-recovery',
    html: `<p>Because the true features are known, success can be measured. For each feature, take the component
      whose row points most nearly along the feature's row of <code>W</code>: <b>MMCS</b> (mean max cosine similarity)
      averages how exactly it points there (1 = exactly), <b>ML2R</b> (mean L2 ratio) how much of the row's length it
      has (APD shrinks a little: the paper reports 0.89). Here a seed counts as recovered with MMCS at least 0.98 and
      ML2R at least 0.85. The bars show each feature's best |cos|, coloured by the component that won it.</p>`,
    action: { label: 'Show the finished example', run: (ctx) => ctx.show('tms-5-2-apd') },
  },
  {
    title: 'How APD fails, and what this project adds',
    view: 'card-seeds',
    html: `<p>On some seeds APD as published ends with one component holding two features: a single rank-one piece
      on the line between one feature and the other's opposite, the ReLU hiding the wrong half. That is cheaper in
      the simplicity loss than two components, so training never undoes it; the other features are then smeared
      over the rest (ML2R far below 0.85). The highlighted grid shows twelve seeds decomposed with the paper's
      settings: the red cells failed, and where two features share one colour, that is the collapse.</p>
      <p>This playground adds three things, each a setting you can turn off ("As in the paper"): <b>restarts</b>
      (three short starts; the one whose top-k model reproduces the target best goes on), a <b>spare
      component</b> pruned once the components have settled, and decomposing every target at the <b>scale</b> the settings were
      measured at. Together they recovered every seed of our sweeps (50 of them) whose target learned the
      pentagon, and targets of any scale: switch the grid to "with this project's additions" to see the same
      seeds again.</p>
      <p>Click a red cell to open it, and look at "Drop one component": one column breaks two features' rows at
      once, the component that holds both. "Run them here" decomposes seeds live in this page.</p>`,
    action: { label: 'Show twelve seeds as in the paper', run: (ctx) => ctx.grid('tms-5-2-apd-paper') },
  },
  {
    title: 'Compressed computation: more functions than neurons',
    view: 'card-neurons',
    html: `<p>The residual MLP computes <code>y<sub>i</sub> = x<sub>i</sub> + ReLU(x<sub>i</sub>)</code> for 20 features
      (100 in the paper) with only 10 neurons (50), each feature embedded in a wide residual stream. Every neuron
      serves several features. APD decomposes its input and output matrices together; success is each feature
      getting a component of its own, which the neuron maps show row by row: the lower map (each feature's
      component) should repeat the upper one (the whole network).</p>`,
    action: { label: 'Show the residual MLP', run: (ctx) => ctx.show('resid-mlp-custom-apd') },
  },
  {
    title: 'Stochastic Parameter Decomposition: what replaced APD',
    view: 'card-compare',
    html: `<p>APD's successor, SPD (Bushnaq, Braun, Sharkey 2025), drops attributions, top-k and the simplicity loss.
      It splits every weight matrix into many rank-one <em>subcomponents</em> and learns, for every input, how much
      each one is <em>causally important</em>: a small network per subcomponent reads the input's activation along it
      and says a number between 0 (this input does not need it) and 1. Training then runs the network with every
      subcomponent randomly scaled down wherever its importance is below 1, <code>m = g + (1 - g) u</code> with u
      uniform, and asks for the target's output anyway; a penalty on the importances makes each input claim as
      few as it can. It is built to recover the models where APD fails, such as tms-5-2 with an identity layer.</p>
      <p>The highlighted view puts the two methods side by side on one target, the identity-layer model: APD
      merges features into shared components, SPD gives each feature one subcomponent of W along its line. The
      button opens SPD's result in every view: the causal importance of each of W's 20 subcomponents for each
      feature alone is one bright cell per row, and 15 subcomponents no input needs; a card of its own shows the
      importances through both sigmoids for every matrix, their histogram, and one input's mask. To run it
      yourself, choose SPD under Method and press Run; the finished run takes SPD's column here. The reference's
      schedule takes hours in a tab, so the page runs a shorter one, with what the reference code added after
      the paper (a delta component instead of the faithfulness loss, a warmup, a mask sigmoid that lets unused
      subcomponents come back) and four short starts, of which the one where the most features have a
      subcomponent of their own goes on. That recovered all 20 seeds of tms-5-2 and 21 of the 22 of tms-5-2-id we ran
      natively; SPD as in its paper, on the same schedule, 1 in 10, merging two features into one subcomponent.
      "As in the paper" turns the additions off. "Seeds side by side" shows twelve seeds of tms-5-2-id by each
      method: APD recovers none of them, SPD eleven.</p>`,
    action: { label: 'Show SPD where APD fails', run: (ctx) => ctx.show('tms-5-2-id-spd') },
  },
  {
    title: 'What the adversary adds: VPD',
    view: 'card-adversary',
    html: `<p>SPD checks its masks by chance: each subcomponent an input does not fully need is scaled by a random
      amount between its importance and 1, and the output must survive. A decomposition can pass thousands of such
      random draws and still break under a few particular ones, say two subcomponents that cancel each other and
      are switched off together. VPD (Goodfire, 2026), the newest method of this line, trains against an
      <em>adversary</em> instead: it keeps, for every slot of the batch, masks of its own within what the
      importances allow, <code>m = g + (1 - g) s</code>, and moves the sources <code>s</code> uphill on the
      reconstruction error, a few steps before and after each training step. Half of each batch is trained under
      its masks, the other half under random ones on a random subset of the matrices. A residual channel carries
      <code>W - V U</code>, so the subcomponents need not sum to the weights exactly while training, and the
      importance penalty is a smooth count with a second term that charges subcomponents many inputs need.</p>
      <p>The highlighted card shows the adversary at work: the output's error under its masks, under random ones and
      under the importances alone over training, and for a few inputs the masks it settles on. Open the finished
      example: under the adversary's masks the error stays above the random masks' all along (at 222 of the 226
      points of seed 23's run), because the adversary keeps finding the combinations that hurt. Then, to see what
      it adds, set VPD's <b>adversary_lr</b> to 0 and press Run: its masks stay where they were drawn, no worse than
      random ones, and its curve tangles with theirs (above them at 104 of 226 points). Both runs recover the five
      features on this seed; the card below, the field's evaluation, tells them apart: the error under the worst
      masks the importances allow (<code>pgd</code>) came out a fifth larger without the adversary (1.04e-3
      against 8.8e-4 natively, seed 23; one seed, so a hint rather than a finding).</p>`,
    action: { label: 'Show VPD on tms-5-2', run: (ctx) => ctx.show('tms-5-2-vpd') },
  },
];

let current = -1;
/** @type {(TourContext & { onChange: (n: number) => void }) | null} */
let context = null;

/** @param {string} id */
const $ = (id) => document.getElementById(id);
/** @param {string} id */
const button = (id) => /** @type {HTMLButtonElement} */ (document.getElementById(id));

/**
 * Wires the tour to the page: `ctx` gives its actions the page's controls; `onChange(n)` hears which chapter is open (0: none).
 * @param {TourContext} ctx
 * @param {(n: number) => void} onChange
 */
export function setupTour(ctx, onChange) {
  context = { ...ctx, onChange };
  const list = $('tour-chapters');
  list.innerHTML = '';
  CHAPTERS.forEach((c, i) => {
    const el = document.createElement('article');
    el.dataset.testid = 'tour-chapter';
    el.dataset.chapter = String(i + 1);
    el.dataset.view = c.view;
    el.hidden = true;
    const h = document.createElement('h3'); h.textContent = `${i + 1}. ${c.title}`;
    const body = document.createElement('div'); body.innerHTML = c.html;
    el.append(h, body);
    if (c.action) {
      const b = document.createElement('button'); b.textContent = c.action.label; b.dataset.testid = 'tour-action';
      b.addEventListener('click', () => c.action.run(context));
      el.append(b);
    }
    list.append(el);
  });
  $('tour-prev').addEventListener('click', () => openChapter(current));
  $('tour-next').addEventListener('click', () => openChapter(current + 2));
  $('tour-close').addEventListener('click', () => openChapter(0));
}

/**
 * Opens chapter `n` (1-based; 0 closes the tour), highlighting its view.
 * @param {number} n
 */
export function openChapter(n) {
  const idx = Number.isInteger(n) && n >= 1 && n <= CHAPTERS.length ? n - 1 : -1;
  for (const el of document.querySelectorAll('.highlight')) el.classList.remove('highlight');
  document.querySelectorAll('[data-testid="tour-chapter"]').forEach((el, i) => { /** @type {HTMLElement} */ (el).hidden = i !== idx; });
  $('tour').hidden = idx < 0;
  current = idx;
  if (idx >= 0) {
    button('tour-prev').disabled = idx === 0;
    button('tour-next').disabled = idx === CHAPTERS.length - 1;
    $('tour-progress').textContent = `chapter ${idx + 1} of ${CHAPTERS.length}`;
    const view = $(CHAPTERS[idx].view);
    if (view) {
      view.classList.add('highlight');
      // Below the tour, which stays at the top while the page scrolls.
      view.scrollIntoView({ block: 'end', behavior: 'smooth' });
    }
  }
  context?.onChange(idx < 0 ? 0 : idx + 1);
}
