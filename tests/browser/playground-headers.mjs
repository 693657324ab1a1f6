// The playground follows the Headers pane: loaded anonymously it introspects the anonymous
// schema (no Mutation type under the sample policy); after a member token is typed into the
// Headers editor it introspects again with that Authorization header and gets the member's
// schema, with no "Re-fetch schema" click. Also checks that the welcome text fits the editor.
// Usage: node playground-headers.mjs <gateway-url> <member-token>; prints "ok" or exits non-zero.
import { chromium } from 'playwright-core';

const [url, token] = process.argv.slice(2);
const fail = (why) => {
  console.error(why);
  process.exit(1);
};
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const introspections = [];
  page.on('response', async (response) => {
    const request = response.request();
    if (request.method() !== 'POST' || !(request.postData() || '').includes('__schema')) return;
    const body = await response.text();
    introspections.push({ authorization: request.headers()['authorization'] || null, mutation: body.includes('"name":"Mutation"') });
  });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('.graphiql-execute-button', { timeout: 20000 });
  await page.waitForFunction(() => true);
  for (let i = 0; i < 100 && introspections.length === 0; i++) await page.waitForTimeout(100);
  if (introspections.length === 0) fail('the playground never introspected');
  if (introspections[0].mutation || introspections[0].authorization) fail(`the first schema was not anonymous: ${JSON.stringify(introspections)}`);
  // The welcome comment fits: no line of the query editor is wider than the editor.
  const overflow = await page.evaluate(() => {
    const editor = document.querySelector('.graphiql-query-editor .CodeMirror');
    const lines = [...editor.querySelectorAll('.CodeMirror-line')];
    const width = editor.getBoundingClientRect().width;
    return lines.filter((line) => line.firstChild && line.firstChild.getBoundingClientRect().width > width).map((line) => line.textContent);
  });
  if (overflow.length > 0) fail(`welcome lines wider than the editor: ${JSON.stringify(overflow)}`);
  // Type the token into the Headers editor.
  await page.getByText('Headers', { exact: true }).click();
  // The tools pane holds the variables and the headers editor; the shown one is not `.hidden`.
  await page.evaluate((value) => {
    document.querySelector('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror').CodeMirror.setValue(value);
  }, JSON.stringify({ Authorization: `Bearer ${token}` }));
  for (let i = 0; i < 100 && !introspections.some((seen) => seen.authorization); i++) await page.waitForTimeout(100);
  const member = introspections.find((seen) => seen.authorization === `Bearer ${token}`);
  if (!member) fail(`no introspection with the token after editing the headers: ${JSON.stringify(introspections)}`);
  if (!member.mutation) fail(`the member's schema has no Mutation type: ${JSON.stringify(introspections)}`);
  console.log('ok');
} finally {
  await browser.close();
}
