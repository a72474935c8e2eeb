// The README's picture: the page as a visitor first sees it (a finished
// tms-5-2 decomposition), in Debian's Chromium, written to docs/screenshot.png.
// Needs the page built (scripts/build-web.sh). Usage: node scripts/screenshot.mjs [OUT]
import path from 'node:path';
import { start, openPage } from '../tests/e2e/helpers.mjs';

const out = process.argv[2] || path.resolve(import.meta.dirname, '../docs/screenshot.png');
const env = await start();
try {
  const { page, problems } = await openPage(env);
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.getByTestId('mmcs').filter({ hasText: /\d/ }).waitFor({ timeout: 30_000 });
  // Let the last frame of the charts land.
  await page.waitForTimeout(500);
  await page.screenshot({ path: out });
  if (problems.length) throw new Error(`the page reported: ${problems.join('; ')}`);
  console.log(`wrote ${out}`);
} finally {
  await env.close();
}
