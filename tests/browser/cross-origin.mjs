// A page on another origin (served here on the port in argv[3]) queries the gateway (URL in
// argv[2]) from Chromium with the headers browser SDKs add: Apollo client awareness
// (`apollographql-client-name`/`-version`) and OpenTelemetry's `traceparent`. The preflight must
// admit them, the answer must arrive, and JavaScript must see `x-request-id`.
import { chromium } from "playwright-core";
import { createServer } from "node:http";

const [url, port] = [process.argv[2], Number(process.argv[3])];
const fail = (why) => {
  console.error(why);
  process.exit(1);
};
const page = `<!doctype html><meta charset="utf-8"><title>app</title><script>
  window.result = fetch(${JSON.stringify(url)}, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "apollographql-client-name": "web-app",
      "apollographql-client-version": "1.2.3",
      "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    },
    body: JSON.stringify({ query: "{ projects(first: 1) { totalCount } }" }),
  }).then(async (response) => ({ status: response.status, requestId: response.headers.get("x-request-id"), body: await response.json() }))
    .catch((error) => ({ error: String(error) }));
</script>`;
const server = createServer((request, response) => {
  response.writeHead(200, { "content-type": "text/html" });
  response.end(page);
}).listen(port, "127.0.0.1");
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const tab = await browser.newPage();
  const preflights = [];
  tab.on("request", (request) => {
    if (request.method() === "OPTIONS") preflights.push(request.url());
  });
  await tab.goto(`http://127.0.0.1:${port}/`);
  const result = await tab.evaluate(() => window.result);
  if (result.error) fail(`the cross-origin request failed: ${result.error}`);
  if (result.status !== 200 || typeof result.body?.data?.projects?.totalCount !== "number") {
    fail(`unexpected answer: ${JSON.stringify(result)}`);
  }
  if (!result.requestId) fail(`x-request-id is not exposed to JavaScript: ${JSON.stringify(result)}`);
} finally {
  await browser.close();
  server.close();
}
console.log("ok");
