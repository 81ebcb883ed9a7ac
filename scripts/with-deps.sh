#!/bin/sh
# Runs a command with the project's dependencies installed, Node 24 among them: the `node`
# package puts Node 24 in node_modules/.bin, so a machine with an older system Node needs
# nothing but npm. Installs (npm ci) only when node_modules is missing or older than the lock.
set -e
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] installing dependencies with npm ci (Node 24 comes with them)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
PATH="$PWD/node_modules/.bin:$PATH"
export PATH
exec "$@"
