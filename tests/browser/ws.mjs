// A real `graphql-ws` client (the reference implementation of graphql-transport-ws) against the
// gateway: a refused token closes with 4403, a subscription receives the change a mutation makes,
// and completing it ends it cleanly. Prints one JSON object with what it saw.
//
//   node ws.mjs <ws url> <http url> <valid token> <bad token>
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [wsUrl, httpUrl, token, badToken] = process.argv.slice(2);
const seen = {};

function client(bearer) {
  return createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    connectionParams: { Authorization: `Bearer ${bearer}` },
    on: { closed: (event) => { seen.lastClose = event.code; } },
  });
}

// 1. A bad token: the server closes with 4403.
seen.refused = await new Promise((resolve) => {
  const refused = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    connectionParams: { Authorization: `Bearer ${badToken}` },
    on: { closed: (event) => resolve(event.code) },
    onNonLazyError: () => {},
  });
  setTimeout(() => { refused.dispose(); resolve(null); }, 5000);
});

// 2. A subscription receives the change a mutation makes.
const good = client(token);
const events = good.iterate({ query: 'subscription { tagChanged(ops: [INSERT]) { op row { name } } }' });
await new Promise((resolve) => setTimeout(resolve, 500));
const response = await fetch(httpUrl, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  body: JSON.stringify({ query: 'mutation { createTag(input: { name: "from graphql-ws" }) { id } }' }),
});
seen.mutation = await response.json();
const timeout = setTimeout(() => { seen.timedOut = true; good.dispose(); }, 10000);
for await (const event of events) {
  seen.event = event;
  break; // completes the subscription (the client sends `complete`)
}
clearTimeout(timeout);
await good.dispose();
console.log(JSON.stringify(seen));
