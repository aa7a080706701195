// Opens our test page, clicks Play and reports what the page shows once the flow has ended.
// Usage: node click_play.mjs PAGE_URL [TIMEOUT_MS]
// The page marks its log element data-state="done" (or "error") when the socket has closed.
// Prints {"state": "...", "text": "<the log element's text>"}.
import { chromium } from 'playwright-core';

const [url, timeoutText = '30000'] = process.argv.slice(2);
if (!url) {
  console.error('usage: node click_play.mjs PAGE_URL [TIMEOUT_MS]');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
let state = 'timeout';
let text = '';
try {
  const page = await browser.newPage();
  page.on('console', (msg) => console.error(`page: ${msg.text()}`));
  await page.goto(url);
  await page.click('#play');
  const log = page.locator('#log');
  try {
    await page.waitForFunction(() => {
      const s = document.querySelector('#log')?.dataset.state;
      return s === 'done' || s === 'error';
    }, null, { timeout: Number(timeoutText) });
  } catch (e) {
    // the state stays "timeout"
  }
  state = (await log.getAttribute('data-state')) || state;
  text = await log.innerText();
} finally {
  await browser.close();
}
console.log(JSON.stringify({ state, text }));
process.exit(state === 'done' ? 0 : 1);
