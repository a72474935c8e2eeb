import { start } from './helpers.mjs';
const env = await start();
const page = await env.browser.newPage({ viewport: { width: 1400, height: 1100 } });
const problems = [];
page.on('pageerror', (e) => problems.push(String(e)));
page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
await page.goto(env.base + '#model=tms-5-2-id&method=spd&seed=4&backend=cpu&spd.batch_size=256&spd.steps=8000&spd.lr=0.003');
await page.getByTestId('status').filter({ hasText: /^ready$/ }).waitFor({ timeout: 60_000 });
const t0 = Date.now();
await page.getByTestId('run').click();
let rec = null;
for (;;) {
  const st = await page.getByTestId('status').textContent();
  const mmcs = Number(await page.getByTestId('mmcs').textContent()), ml2r = Number(await page.getByTestId('ml2r').textContent());
  if (rec === null && mmcs >= 0.98 && ml2r >= 0.85) rec = (Date.now() - t0) / 1000;
  if (st === 'done' || st.startsWith('error')) break;
  await page.waitForTimeout(500);
}
console.log('wall', (Date.now() - t0) / 1000, 'recovered at', rec, await page.getByTestId('mmcs').textContent(), await page.getByTestId('ml2r').textContent(), await page.locator('#ms-per-step').textContent(), problems);
await env.close();
