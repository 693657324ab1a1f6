// Apollo Client 4 keying its normalised cache by Relay global ids (`nodeId`): a row read in a
// list and again through `node(nodeId:)` is one cache object, and a mutation's answer updates
// the list the cache holds without a refetch. Prints "ok" or exits non-zero with why.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { defaultDataIdFromObject } from "@apollo/client/cache";

const url = process.argv[2];
const cache = new InMemoryCache({
  dataIdFromObject: (object) => object.nodeId ?? defaultDataIdFromObject(object),
  possibleTypes: { Node: ["Task", "Project", "Organization", "User", "Comment", "Tag", "TaskTag"] },
});
const client = new ApolloClient({ link: new HttpLink({ uri: url }), cache });
const fail = (why) => {
  console.error(why);
  process.exit(1);
};

const list = gql`
  query List {
    tasks(first: 3, orderBy: [{ id: ASC }]) { nodes { nodeId id title } }
  }
`;
const listed = await client.query({ query: list });
if (listed.error) fail(`list: ${listed.error.message}`);
const first = listed.data.tasks.nodes[0];

const byId = gql`
  query One($id: ID!) {
    node(nodeId: $id) { nodeId ... on Task { id title } }
  }
`;
const found = await client.query({ query: byId, variables: { id: first.nodeId } });
if (found.error) fail(`node: ${found.error.message}`);
if (found.data.node?.id !== first.id) fail(`node(nodeId) gave ${JSON.stringify(found.data.node)} for ${JSON.stringify(first)}`);
if (!cache.extract()[first.nodeId]) fail(`the cache has no object under ${first.nodeId}: ${Object.keys(cache.extract())}`);

const rename = gql`
  mutation Rename($id: BigInt!, $title: String!) {
    updateTask(id: $id, patch: { title: $title }) { nodeId title }
  }
`;
const title = `Renamed ${Date.now()}`;
const renamed = await client.mutate({ mutation: rename, variables: { id: first.id, title } });
if (renamed.error) fail(`mutation: ${renamed.error.message}`);
const cached = client.readQuery({ query: list });
if (cached.tasks.nodes[0].title !== title) {
  fail(`the cached list kept ${JSON.stringify(cached.tasks.nodes[0])} after the mutation answered ${title}`);
}
const again = client.readQuery({ query: byId, variables: { id: first.nodeId } });
if (again.node.title !== title) fail(`the cached node kept ${JSON.stringify(again.node)}`);
console.log("ok");
