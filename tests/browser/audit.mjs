// Runs the graphql-http package's server audits (the GraphQL-over-HTTP spec's MUST/SHOULD/MAY
// checks) against a running gateway and prints one JSON object per audit.
// Usage: node audit.mjs <graphql-url>
import { serverAudits } from 'graphql-http';

const [url] = process.argv.slice(2);
const results = [];
for (const audit of serverAudits({ url, fetchFn: fetch })) {
  const result = await audit.fn();
  results.push({ id: audit.id, name: audit.name, status: result.status, reason: result.reason ?? null });
}
console.log(JSON.stringify(results));
