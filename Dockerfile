# syntax=docker/dockerfile:1
#
# One image holds every service; the first argument picks which one runs:
#
#   docker build -t cdc .
#   docker run --rm -v $PWD/pipeline.yaml:/etc/cdc/pipeline.yaml:ro cdc capture-postgres --config /etc/cdc/pipeline.yaml
#   docker run --rm cdc probe readyz          # exit 0 when the service in this container is ready
#
# One image rather than one per service: the services share nearly all their code and
# dependencies, so one build and one set of layers serve the compose file and the Helm chart.
# Debian (glibc) rather than Alpine: chdb and classic-level (LevelDB) ship glibc binaries.

ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
# Sources without node_modules, dist or local data (see .dockerignore).
COPY . .
# `npm install` installs the locked versions; npm 11's `npm ci` rejects lockfiles written
# without other platforms' optional packages (see scripts/with-deps.sh).
RUN npm install --no-audit --no-fund --loglevel=error \
 && npx tsc -b libs/*/ services/*/ \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error
# What runs: the root manifest, production node_modules, and each package's manifest and dist.
RUN set -e; mkdir -p /out; cp package.json /out/; cp -a node_modules /out/; \
    for pkg in libs/* services/*; do \
      [ -d "$pkg/dist" ] || continue; \
      mkdir -p "/out/$pkg"; cp -a "$pkg/package.json" "$pkg/dist" "/out/$pkg/"; \
      [ ! -d "$pkg/node_modules" ] || cp -a "$pkg/node_modules" "/out/$pkg/"; \
    done; \
    find /out -name '*.tsbuildinfo' -delete; find /out -name '*.map' -delete

FROM ${NODE_IMAGE} AS runtime
ENV CDC_TELEMETRY_PORT=9464
WORKDIR /app
COPY --from=build /out/ /app/
COPY <<'SH' /usr/local/bin/cdc
#!/bin/sh
# cdc <service> [args…]   runs services/<service>/dist/main.js
# cdc probe healthz|readyz checks this container's telemetry listener (for health checks)
set -e
service="${1:-}"
[ $# -eq 0 ] || shift
if [ "$service" = probe ]; then
  exec node -e 'fetch(`http://127.0.0.1:${process.env.CDC_TELEMETRY_PORT}/${process.argv[1] || "readyz"}`)
    .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "${1:-readyz}"
fi
if [ -z "$service" ] || [ ! -f "/app/services/$service/dist/main.js" ]; then
  echo "usage: cdc <service> --config <pipeline file>; services: $(ls /app/services | tr '\n' ' ')" >&2
  exit 2
fi
exec node "/app/services/$service/dist/main.js" "$@"
SH
RUN chmod 0755 /usr/local/bin/cdc \
 && mkdir -p /var/lib/cdc /etc/cdc \
 && chown node:node /var/lib/cdc
# Local state (the processor's LevelDB stores, an embedded ClickHouse) lives under /var/lib/cdc.
VOLUME ["/var/lib/cdc"]
USER node
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/cdc"]
CMD []
