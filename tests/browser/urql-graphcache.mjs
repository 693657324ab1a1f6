// urql 6 with @urql/exchange-graphcache and its defaults against a running gateway (URL in
// argv[2]): rows normalise by `__typename` + `id`, aggregates (which have no `id`) stay embedded
// in their query, and what the cache answers is what the server answered — also after a mutation
// changes a row both queries show.
import { Client, fetchExchange, gql } from "@urql/core";
import { cacheExchange } from "@urql/exchange-graphcache";

const url = process.argv[2];
const client = new Client({ url, exchanges: [cacheExchange({}), fetchExchange], preferGetMethod: false });
const fail = (why) => {
  console.error(why);
  process.exit(1);
};
const strip = (value) => JSON.parse(JSON.stringify(value, (key, item) => (key === "__typename" ? undefined : item)));
const direct = async (query, variables) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: query.loc.source.body, variables }),
  });
  return (await response.json()).data;
};
const stats = gql`
  query Stats($status: TaskStatus!) {
    tasksAggregate(filter: { status: { eq: $status } }) { count min { priority dueOn } max { priority } }
  }
`;
const answers = {};
for (const status of ["TODO", "DONE"]) {
  const result = await client.query(stats, { status }).toPromise();
  if (result.error) fail(`${status}: ${result.error.message}`);
  answers[status] = strip(result.data);
  const server = await direct(stats, { status });
  if (JSON.stringify(answers[status]) !== JSON.stringify(server)) {
    fail(`${status}: graphcache gave ${JSON.stringify(answers[status])}, the server ${JSON.stringify(server)}`);
  }
}
for (const status of ["TODO", "DONE"]) {
  const cached = await client.query(stats, { status }, { requestPolicy: "cache-only" }).toPromise();
  if (JSON.stringify(strip(cached.data)) !== JSON.stringify(answers[status])) {
    fail(`${status}: the cache now says ${JSON.stringify(cached.data)}, the server said ${JSON.stringify(answers[status])}`);
  }
}
// A row two queries share is one cache entity: a mutation's answer updates both.
const one = gql`query One { project(id: "1") { id name } }`;
const list = gql`query List { projects(first: 1, orderBy: [{ id: ASC }]) { nodes { id name } } }`;
for (const query of [one, list]) {
  const result = await client.query(query, {}).toPromise();
  if (result.error) fail(result.error.message);
}
const renamed = await client
  .mutation(gql`mutation { updateProject(id: "1", patch: { name: "Renamed by urql" }) { id name } }`, {})
  .toPromise();
if (renamed.error) fail(renamed.error.message);
const cachedOne = await client.query(one, {}, { requestPolicy: "cache-only" }).toPromise();
const cachedList = await client.query(list, {}, { requestPolicy: "cache-only" }).toPromise();
if (cachedOne.data?.project?.name !== "Renamed by urql" || cachedList.data?.projects?.nodes?.[0]?.name !== "Renamed by urql") {
  fail(`the cache did not take the mutation's row: ${JSON.stringify(cachedOne.data)} ${JSON.stringify(cachedList.data)}`);
}
console.log("ok");
