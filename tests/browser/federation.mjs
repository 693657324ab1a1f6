// Apollo Federation v2 with the real router library: `@apollo/gateway` composes the gateway
// (argv[2], GATEWAY_FEDERATION on) with a second subgraph written with `@apollo/subgraph` that
// rates the gateway's tasks, and answers queries that cross both ways:
//   - ratings → task: the router sends the gateway `_entities` with Task representations, under
//     the client's token (forwarded); a task of another organization comes back null;
//   - tasks → ratings: the router sends the ratings subgraph the gateway's Task keys.
// argv: gateway URL, member token (organization 1), a task id of organization 1, one of another.
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } from "@apollo/gateway";
import { parse } from "graphql";
import assert from "node:assert/strict";

const [url, token, ownTask, otherTask] = process.argv.slice(2);
const authorization = `Bearer ${token}`;

const ratings = [
  { id: "r1", stars: 5, task: ownTask },
  { id: "r2", stars: 1, task: otherTask },
];
const ratingsSubgraph = new ApolloServer({
  schema: buildSubgraphSchema({
    typeDefs: parse(`
      extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
      scalar BigInt
      type Rating { id: ID! stars: Int! task: Task }
      type Task @key(fields: "id") { id: BigInt! ratings: [Rating!]! }
      type Query { ratings: [Rating!]! }
    `),
    resolvers: {
      Query: { ratings: () => ratings },
      Rating: { task: (rating) => ({ __typename: "Task", id: rating.task }) },
      Task: {
        __resolveReference: (task) => ({ id: String(task.id) }),
        ratings: (task) => ratings.filter((rating) => rating.task === String(task.id)),
      },
    },
  }),
});
const { url: ratingsUrl } = await startStandaloneServer(ratingsSubgraph, { listen: { port: 0 } });

const gateway = new ApolloGateway({
  // The supergraph is composed from each subgraph's `_service { sdl }`, read with the member's
  // token so it is the member's view.
  supergraphSdl: new IntrospectAndCompose({
    subgraphs: [
      { name: "tasks", url },
      { name: "ratings", url: ratingsUrl },
    ],
    introspectionHeaders: { authorization },
  }),
  buildService: ({ url }) =>
    new RemoteGraphQLDataSource({
      url,
      willSendRequest({ request, context }) {
        if (context?.authorization) request.http.headers.set("authorization", context.authorization);
      },
    }),
});
const router = new ApolloServer({ gateway });
await router.start();

const viaRouter = async (query) => {
  const response = await router.executeOperation({ query }, { contextValue: { authorization } });
  assert.equal(response.body.kind, "single");
  // Plain objects, comparable with the gateway's own JSON.
  return JSON.parse(JSON.stringify(response.body.singleResult));
};
const direct = async (query) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization },
    body: JSON.stringify({ query }),
  });
  return response.json();
};

// Ratings → the gateway's tasks (the router asks the gateway's `_entities`).
const rated = await viaRouter(`{ ratings { id stars task { id title project { name } } } }`);
assert.equal(rated.errors, undefined, JSON.stringify(rated.errors));
const own = await direct(`{ task(id: ${ownTask}) { id title project { name } } }`);
assert.deepEqual(rated.data.ratings[0], { id: "r1", stars: 5, task: own.data.task });
assert.notEqual(own.data.task, null, "the member reads its own task directly");
// The other organization's task is not the member's to read: null, as the direct lookup says.
const other = await direct(`{ task(id: ${otherTask}) { id } }`);
assert.equal(other.data.task, null);
assert.deepEqual(rated.data.ratings[1], { id: "r2", stars: 1, task: null });

// The gateway's tasks → ratings (the router asks the ratings subgraph with the gateway's keys).
const tasks = await viaRouter(`{ tasks(filter: { id: { eq: "${ownTask}" } }) { nodes { id title ratings { stars } } } }`);
assert.equal(tasks.errors, undefined, JSON.stringify(tasks.errors));
assert.deepEqual(tasks.data.tasks.nodes, [{ id: own.data.task.id, title: own.data.task.title, ratings: [{ stars: 5 }] }]);

await router.stop();
await ratingsSubgraph.stop();
console.log("federation: composed and answered through @apollo/gateway");
