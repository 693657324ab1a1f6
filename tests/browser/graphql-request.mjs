// graphql-request 7 against a running gateway (URL in argv[2]), as a service would use it: a
// query with variables, a mutation, and a refused query arriving as a ClientError that carries
// the gateway's `extensions.code`. The answers must be the server's (compared with a plain POST).
import { GraphQLClient, ClientError, gql } from "graphql-request";

const url = process.argv[2];
const client = new GraphQLClient(url);
const fail = (why) => {
  console.error(why);
  process.exit(1);
};
const direct = async (query, variables) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()).data;
};

const projects = gql`
  query Projects($first: Int!) {
    projects(first: $first, orderBy: [{ id: ASC }]) { totalCount nodes { id name organization { slug } } }
  }
`;
const answer = await client.request(projects, { first: 2 });
const server = await direct(projects, { first: 2 });
if (JSON.stringify(answer) !== JSON.stringify(server)) {
  fail(`graphql-request gave ${JSON.stringify(answer)}, the server ${JSON.stringify(server)}`);
}
if (answer.projects.nodes.length !== 2 || typeof answer.projects.nodes[0].id !== "string") {
  fail(`expected two projects with BigInt (string) ids: ${JSON.stringify(answer)}`);
}

const created = await client.request(
  gql`mutation Tag($input: TagInsertInput!) { createTag(input: $input) { id name } }`,
  { input: { organizationId: "1", name: "from-graphql-request" } },
);
if (created.createTag.name !== "from-graphql-request") fail(`createTag gave ${JSON.stringify(created)}`);

try {
  await client.request(gql`{ projects(first: -1) { totalCount } }`);
  fail("a negative page size was accepted");
} catch (error) {
  if (!(error instanceof ClientError)) fail(`not a ClientError: ${error}`);
  const code = error.response.errors?.[0]?.extensions?.code;
  if (code !== "BAD_USER_INPUT") fail(`expected BAD_USER_INPUT, got ${JSON.stringify(error.response)}`);
}
console.log("ok");
