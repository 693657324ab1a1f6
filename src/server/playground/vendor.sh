#!/usr/bin/env bash
# Re-vendors the GraphiQL playground assets that the gateway embeds in its binary, so the
# playground works on a network without internet. Pinned versions; `npm pack` checks each
# tarball against the registry's integrity hash. Run from anywhere, then commit assets/.
#   GraphiQL 3.9.0 ships a UMD build that bundles graphql-ws (subscriptions) and inlines its fonts;
#   React 18.3.1 is the last React with UMD builds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent graphiql@3.9.0 react@18.3.1 react-dom@18.3.1 >/dev/null
for tarball in *.tgz; do mkdir "${tarball%.tgz}" && tar xzf "$tarball" -C "${tarball%.tgz}"; done
cp graphiql-3.9.0/package/graphiql.min.js graphiql-3.9.0/package/graphiql.min.css "$here/assets/"
cp react-18.3.1/package/umd/react.production.min.js "$here/assets/"
cp react-dom-18.3.1/package/umd/react-dom.production.min.js "$here/assets/"
cd "$here/assets" && sha256sum ./*.js ./*.css > SHA256SUMS
echo "vendored into $here/assets"
