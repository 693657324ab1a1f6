// urql 6 with its defaults against a running gateway (URL in argv[2]): short queries go as GET
// (`preferGetMethod: "within-url-limit"`), which CSRF prevention used to refuse. The answer must
// be the server's (compared with a POST), and the request must really have been a GET.
import { Client, cacheExchange, fetchExchange, gql } from "@urql/core";

const url = process.argv[2];
const methods = [];
const client = new Client({
  url,
  exchanges: [cacheExchange, fetchExchange],
  fetch: (input, init) => {
    methods.push(init?.method ?? "GET");
    return fetch(input, init);
  },
});
const query = gql`
  query Projects($first: Int) {
    projects(first: $first, orderBy: [{ id: ASC }]) { nodes { id name } }
  }
`;
const fail = (why) => {
  console.error(why);
  process.exit(1);
};
const result = await client.query(query, { first: 3 }).toPromise();
if (result.error) fail(`urql: ${result.error.message}`);
if (!methods.includes("GET")) fail(`urql sent ${methods.join(", ")}, not GET`);
const response = await fetch(url, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ query: query.loc.source.body, variables: { first: 3 } }),
});
const server = (await response.json()).data;
const strip = (value) => JSON.parse(JSON.stringify(value, (key, item) => (key === "__typename" ? undefined : item)));
if (JSON.stringify(strip(result.data)) !== JSON.stringify(server)) {
  fail(`urql gave ${JSON.stringify(result.data)}, the server ${JSON.stringify(server)}`);
}
if (server.projects.nodes.length !== 3) fail(`expected three projects: ${JSON.stringify(server)}`);
console.log("ok");
