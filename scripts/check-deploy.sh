#!/usr/bin/env bash
# Validates the deployment artefacts, offline once its tools are cached:
#   - docker-compose.yml (`docker-compose config`, with and without the observability profile);
#   - the Helm chart infra/helm/cdc (`helm lint`, then `helm template` with several value sets
#     piped to `kubeconform -strict` against the Kubernetes JSON schemas).
# helm and kubeconform are built with `go install` (Go module proxy) into the cache on first use;
# the Kubernetes JSON schemas come from the PyPI package kubernetes-validate, which ships them
# (kubeconform would otherwise download them at run time). The ServiceMonitor and PrometheusRule
# CRDs are checked against infra/helm/schemas/. The Dockerfile is not built here: that needs a Docker daemon.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
# kubernetes-validate <version> ships JSON schemas for every Kubernetes minor up to its own.
SCHEMAS_PACKAGE_VERSION=1.37.0
KUBERNETES_VERSION=1.35.0

cache="${CDC_STACK_CACHE_DIR:-.stack/cache}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
chart=infra/helm/cdc

step() { printf '\n=== %s\n' "$*"; }
fail() {
  echo "check-deploy: $*" >&2
  exit 1
}

# --- tools -------------------------------------------------------------------------------------
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then PATH="/usr/local/go/bin:$PATH"; fi

go_tool() { # name module version → path of the binary, built once per version
  local name=$1 module=$2 version=$3 dir="$cache/gobin/$1-$3"
  if [ ! -x "$dir/$name" ]; then
    command -v go >/dev/null 2>&1 ||
      fail "$name is built with Go (1.24 or newer) and no 'go' is on PATH: install Go, then rerun"
    echo "building $name $version with go install (first run only; helm takes ~5 min on 2 cores)" >&2
    local t=$SECONDS
    GOBIN="$dir" GOFLAGS=-mod=mod go install "$module@$version" >&2 ||
      fail "go install $module@$version failed"
    echo "built $name in $((SECONDS - t)) s" >&2
  fi
  echo "$dir/$name"
}

schemas_dir() { # → folder holding v$KUBERNETES_VERSION-local-strict/*.json, ready for kubeconform
  local dir="$cache/kubernetes-json-schema/$SCHEMAS_PACKAGE_VERSION-offline"
  local want="v$KUBERNETES_VERSION-local-strict"
  if [ ! -f "$dir/$want/deployment-apps-v1.json" ]; then
    echo "fetching the Kubernetes JSON schemas (kubernetes-validate $SCHEMAS_PACKAGE_VERSION)" >&2
    local tmp
    tmp="$(mktemp -d)"
    if ! python3 -m pip --version >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
    fi
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" \
      "kubernetes-validate==$SCHEMAS_PACKAGE_VERSION" >&2 ||
      fail "pip could not download kubernetes-validate==$SCHEMAS_PACKAGE_VERSION"
    # The schemas name themselves https://kubernetes.io/api/… and refer to
    # /api/_definitions.json: drop the ids and make the references relative, so that kubeconform
    # resolves them to the file beside each schema instead of fetching them (it would report
    # "could not find schema" for a schema whose references it cannot load).
    python3 - "$tmp"/kubernetes_validate-*.whl "$dir" "$want" <<'PY' || fail "no $want schemas in the wheel"
import json, os, sys, zipfile
wheel, dest, want = sys.argv[1:4]
prefix = f"kubernetes_validate/kubernetes-json-schema/{want}/"
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix) and n.endswith(".json")]
    if not names:
        sys.exit(1)
    os.makedirs(os.path.join(dest, want), exist_ok=True)
    for n in names:
        schema = json.loads(z.read(n))
        schema.pop("$id", None)
        text = json.dumps(schema).replace('"/api/_definitions.json#', '"_definitions.json#')
        with open(os.path.join(dest, want, n[len(prefix):]), "w") as f:
            f.write(text)
PY
    rm -rf "$tmp"
  fi
  echo "$dir"
}

# --- docker-compose ----------------------------------------------------------------------------
step "docker-compose config"
command -v docker-compose >/dev/null 2>&1 || fail "docker-compose is not installed (Debian: apt-get install docker-compose)"
docker-compose -f docker-compose.yml config -q || fail "docker-compose.yml is invalid"
docker-compose -f docker-compose.yml --profile observability config -q ||
  fail "docker-compose.yml is invalid with the observability profile"
echo "docker-compose.yml is valid (default and observability profile)"

# --- Helm chart --------------------------------------------------------------------------------
helm=$(go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION")
kubeconform=$(go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION")
schemas=$(schemas_dir)
# helm keeps its own config and cache out of $HOME.
export HELM_CONFIG_HOME="$cache/helm/config" HELM_CACHE_HOME="$cache/helm/cache" HELM_DATA_HOME="$cache/helm/data"

# Value sets: defaults; every option on (ServiceMonitor, PrometheusRule, existing Secret, storage class, overrides);
# one component alone.
variants=(
  "defaults|"
  "everything on|--set telemetry.serviceMonitor.enabled=true --set telemetry.prometheusRule.enabled=true --set telemetry.prometheusRule.labels.release=prometheus --set secrets.create=false --set secrets.existingSecret=cdc-credentials --set processor.persistence.storageClass=fast --set processor.replicas=3 --set capturePostgres.pdb.minAvailable=0 --set env[0].name=CDC_LOG_LEVEL --set env[0].value=debug"
  "sink only|--set capturePostgres.enabled=false --set captureMongo.enabled=false --set processor.enabled=false --set tests.enabled=false"
)

step "helm lint $chart"
for v in "${variants[@]}"; do
  # shellcheck disable=SC2086 # the flags are meant to split
  "$helm" lint --strict --kube-version "$KUBERNETES_VERSION" "$chart" ${v#*|} >/dev/null || { "$helm" lint --strict --kube-version "$KUBERNETES_VERSION" "$chart" ${v#*|}; fail "helm lint failed (${v%%|*})"; }
  echo "lint ok: ${v%%|*}"
done

step "helm template | kubeconform -strict (Kubernetes $KUBERNETES_VERSION schemas, offline)"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for v in "${variants[@]}"; do
  name=${v%%|*}
  # shellcheck disable=SC2086
  "$helm" template cdc "$chart" --namespace cdc --kube-version "$KUBERNETES_VERSION" ${v#*|} >"$out/manifests.yaml" || fail "helm template failed ($name)"
  kinds=$(grep -E '^kind: ' "$out/manifests.yaml" | sort | uniq -c | awk '{printf "%s %s, ", $1, $3}')
  echo "$name: ${kinds%, }"
  "$kubeconform" -strict -summary \
    -kubernetes-version "$KUBERNETES_VERSION" \
    -schema-location "$schemas/v$KUBERNETES_VERSION-local-strict/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -schema-location "infra/helm/schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    "$out/manifests.yaml" || fail "kubeconform rejected the chart's manifests ($name)"
done
echo "the Helm chart is valid"
