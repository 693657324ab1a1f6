// Loads the gateway's playground in headless Chromium with every request to anything but the
// gateway blocked, runs the default query by clicking the run button, and prints what it saw as
// JSON: { result, blocked, errors }. Usage: node playground.mjs <gateway-url> <screenshot.png>
import { chromium } from 'playwright-core';

const [url, screenshot] = process.argv.slice(2);
const gateway = new URL(url);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const blocked = [];
const errors = [];
try {
  const page = await browser.newPage();
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.route('**/*', (route) => {
    const target = new URL(route.request().url());
    if (target.host === gateway.host) return route.continue();
    blocked.push(target.href);
    return route.abort();
  });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('.graphiql-execute-button', { timeout: 20000 });
  await page.click('.graphiql-execute-button');
  await page.waitForFunction(
    () => document.querySelector('.graphiql-response')?.textContent.includes('totalCount'),
    null,
    { timeout: 20000 },
  );
  const result = await page.textContent('.graphiql-response');
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ result, blocked, errors }));
} finally {
  await browser.close();
}
