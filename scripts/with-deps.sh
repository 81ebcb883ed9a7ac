#!/bin/sh
# Runs a command with the project's dependencies installed, Node 24 among them: the `node`
# package puts Node 24 in node_modules/.bin, so a machine with an older system Node needs
# nothing but npm. Installs only when node_modules is missing or older than the lock.
# `npm install` rather than `npm ci`: npm 11.19 writes lockfiles without other platforms'
# optional packages (biome's and turbo's binaries) and then its own `npm ci` rejects them as
# out of sync. `npm install` still installs the locked versions.
set -e
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] installing dependencies (Node 24 comes with them)" >&2
  npm install --no-audit --no-fund --loglevel=error
fi
PATH="$PWD/node_modules/.bin:$PATH"
export PATH
exec "$@"
