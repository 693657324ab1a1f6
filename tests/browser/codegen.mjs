// GraphQL Code Generator against a running gateway (URL in argv[2]): it introspects the served
// schema, generates TypeScript for typed/operations.graphql with README's scalar mapping, and
// `tsc --noEmit` checks typed/usage.ts against the result. No scalar may come out `any`.
import { generate } from "@graphql-codegen/cli";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const url = process.argv[2];
const here = dirname(fileURLToPath(import.meta.url));
const out = mkdtempSync(join(tmpdir(), "gateway-codegen-"));
const fail = (why) => {
  console.error(why);
  process.exit(1);
};
const scalars = {
  BigInt: "string",
  Decimal: "string",
  UUID: "string",
  Date: "string",
  DateTime: "string",
  JSON: "unknown",
  Base64: "string",
};
await generate(
  {
    schema: url,
    documents: join(here, "typed/operations.graphql"),
    generates: {
      [join(out, "generated.ts")]: {
        plugins: ["typescript", "typescript-operations"],
        config: { scalars, strictScalars: true, enumsAsTypes: true },
      },
    },
    silent: true,
  },
  true,
);
const generated = readFileSync(join(out, "generated.ts"), "utf8");
if (/:\s*any\b/.test(generated)) fail(`a type came out \`any\`:\n${generated}`);
copyFileSync(join(here, "typed/usage.ts"), join(out, "usage.ts"));
writeFileSync(
  join(out, "tsconfig.json"),
  JSON.stringify({ compilerOptions: { strict: true, noEmit: true, target: "es2022", module: "es2022", moduleResolution: "bundler", skipLibCheck: true }, files: ["usage.ts"] }),
);
try {
  execFileSync(process.execPath, [join(here, "node_modules/typescript/bin/tsc"), "-p", join(out, "tsconfig.json")], { stdio: "pipe" });
} catch (error) {
  fail(`tsc refused the typed usage:\n${error.stdout}${error.stderr}\n--- generated.ts\n${generated}`);
}
console.log("ok");
