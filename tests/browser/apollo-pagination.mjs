// Apollo Client 4's relayStylePagination() against a running gateway (URL in argv[2]), as README's
// pagination example uses it: page 1, then fetchMore with pageInfo.endCursor; the cache must then
// hold pages 1 and 2 in order, the same rows the server gives for `first: 6`. With argv[3] =
// "nodes" the selection is `nodes` only (printed for the README; relayStylePagination merges edges).
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { relayStylePagination } from "@apollo/client/utilities";
import { filter, firstValueFrom } from "rxjs";

const url = process.argv[2];
const nodesOnly = process.argv[3] === "nodes";
const client = new ApolloClient({
  link: new HttpLink({ uri: url }),
  cache: new InMemoryCache({
    typePolicies: { Query: { fields: { projects: relayStylePagination(["orderBy"]) } } },
  }),
});
const selection = nodesOnly ? "nodes { id name }" : "edges { cursor node { id name } }";
const query = gql(`
  query Page($after: String) {
    projects(first: 3, after: $after, orderBy: [{ id: ASC }]) {
      ${selection}
      pageInfo { hasNextPage endCursor }
    }
  }
`);
const fail = (why) => {
  console.error(why);
  process.exit(1);
};
const ids = (connection) =>
  nodesOnly ? connection.nodes.map((node) => node.id) : connection.edges.map((edge) => edge.node.id);

const watched = client.watchQuery({ query, variables: {} });
const first = await firstValueFrom(watched.pipe(filter((result) => !result.loading)));
if (first.error) fail(first.error.message);
const after = first.data.projects.pageInfo.endCursor;
await watched.fetchMore({ variables: { after } });
const cached = client.readQuery({ query, variables: {} });
const response = await fetch(url, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ query: "{ projects(first: 6, orderBy: [{id: ASC}]) { nodes { id } } }" }),
});
const server = (await response.json()).data.projects.nodes.map((node) => node.id);
const got = ids(cached.projects);
if (JSON.stringify(got) !== JSON.stringify(server)) {
  fail(`after fetchMore the cache holds ${JSON.stringify(got)}; pages 1 and 2 are ${JSON.stringify(server)}`);
}
console.log("ok");
