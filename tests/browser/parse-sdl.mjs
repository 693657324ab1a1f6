// Reads SDL from standard input and builds a schema with graphql-js, the reference implementation:
// exits non-zero with the reason when codegen tools and clients would refuse it.
import { buildSchema } from "graphql";

let sdl = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) sdl += chunk;
try {
  const schema = buildSchema(sdl);
  console.log(Object.keys(schema.getTypeMap()).length);
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
