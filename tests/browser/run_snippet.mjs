// Pastes a script into a page of ours, as a person would in the developer console, and reports
// what it logged. Usage: node run_snippet.mjs PAGE_URL SNIPPET_FILE [PORT] [TIMEOUT_MS]
// PORT (when not 3000) replaces the seed's "localhost:3000" in the snippet; nothing else changes.
// Prints one JSON object per console line: {"text": "..."}, then {"done": true|false}.
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [url, file, port = '3000', timeoutText = '30000'] = process.argv.slice(2);
if (!url || !file) {
  console.error('usage: node run_snippet.mjs PAGE_URL SNIPPET_FILE [PORT] [TIMEOUT_MS]');
  process.exit(2);
}
let snippet = readFileSync(file, 'utf8');
if (port !== '3000') snippet = snippet.replaceAll('localhost:3000', `localhost:${port}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
let done = false;
try {
  const page = await browser.newPage();
  const closed = new Promise((resolve) => {
    page.on('console', (msg) => {
      console.log(JSON.stringify({ text: msg.text() }));
      if (msg.text() === 'WebSocket connection closed') resolve(true);
    });
  });
  await page.goto(url);
  await page.addScriptTag({ content: snippet }); // a classic script, like the console's top level
  const timeout = new Promise((resolve) => setTimeout(() => resolve(false), Number(timeoutText)));
  done = await Promise.race([closed, timeout]);
} finally {
  await browser.close();
}
console.log(JSON.stringify({ done }));
process.exit(done ? 0 : 1);
