// Apollo Client 4 with its InMemoryCache defaults against a running gateway (URL in argv[2]):
// two aggregate queries whose minima agree must each keep their own numbers in the normalised
// cache (aggregate types used to have an `id`, which made them one cache object), and what the
// cache gives back must be what the server answered. Prints "ok" or exits non-zero with why.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";

const url = process.argv[2];
const client = new ApolloClient({ link: new HttpLink({ uri: url }), cache: new InMemoryCache() });
const query = gql`
  query Stats($status: TaskStatus!) {
    tasksAggregate(filter: { status: { eq: $status } }) {
      count
      min { priority dueOn createdAt }
      max { priority dueOn }
      groupBy(columns: [PRIORITY]) { key { priority } count }
    }
  }
`;
const direct = async (variables) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: query.loc.source.body, variables }),
  });
  return (await response.json()).data;
};
const strip = (value) => JSON.parse(JSON.stringify(value, (key, item) => (key === "__typename" ? undefined : item)));
const fail = (why) => {
  console.error(why);
  process.exit(1);
};

const answers = {};
for (const status of ["TODO", "DONE"]) {
  const { data, error } = await client.query({ query, variables: { status } });
  if (error) fail(`${status}: ${error.message}`);
  answers[status] = strip(data);
  const server = await direct({ status });
  if (JSON.stringify(answers[status]) !== JSON.stringify(server)) {
    fail(`${status}: Apollo gave ${JSON.stringify(answers[status])}, the server ${JSON.stringify(server)}`);
  }
}
if (JSON.stringify(answers.TODO) === JSON.stringify(answers.DONE)) fail("the two statuses gave the same aggregates");
// After both queries, the cache still holds each one's own numbers.
for (const status of ["TODO", "DONE"]) {
  const cached = strip(client.readQuery({ query, variables: { status } }));
  if (JSON.stringify(cached) !== JSON.stringify(answers[status])) {
    fail(`${status}: the cache now says ${JSON.stringify(cached)}, the server said ${JSON.stringify(answers[status])}`);
  }
}
console.log("ok");
