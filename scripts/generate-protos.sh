#!/usr/bin/env bash
# Regenerates the Swift code for the Arrow Flight / Flight SQL protocol definitions and for
# Tavana's own gateway↔worker protocol.
#
#   protos/*.proto  ──protoc + protoc-gen-swift + protoc-gen-grpc-swift-2──▶  Sources/FlightProtocol/Generated/
#                                                                              Sources/WorkerProtocol/Generated/ (worker.proto)
#
# The generated files are committed; run this only after editing a .proto file or bumping
# the plugin versions below. It is idempotent: a second run rebuilds nothing and rewrites
# the same bytes.
#
# What it does:
#   1. makes sure `protoc` and the well-known types (google/protobuf/timestamp.proto) are
#      installed, via apt-get (protobuf-compiler, libprotobuf-dev) when they are missing;
#   2. builds the two protoc plugins in a throwaway SwiftPM package kept in a cache folder
#      OUTSIDE the repository (so nothing of it lands in the tree or in Package.swift);
#   3. runs protoc into a scratch folder and then replaces the *.pb.swift / *.grpc.swift
#      files in Sources/FlightProtocol/Generated/ with the fresh output.
#
# Options:
#   --plugins-only   only do steps 1 and 2 (warm the plugin cache)
#   --check          regenerate into a scratch folder and fail if it differs from the tree
#   -h, --help       show this help
#
# Environment:
#   TAVANA_PROTOC_PLUGINS_DIR   plugin cache (default: ~/.cache/tavana/protoc-plugins)
#   TAVANA_PROTOC_BUILD_CONFIG  debug|release for the plugin build (default: debug;
#                               the plugins only run for a second, a debug build is quicker)
set -euo pipefail

SWIFT_PROTOBUF_VERSION="1.39.0"
GRPC_SWIFT_PROTOBUF_VERSION="2.4.1"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
PROTO_DIR="$REPO_ROOT/protos"
OUT_DIR="$REPO_ROOT/Sources/FlightProtocol/Generated"
PLUGINS_DIR="${TAVANA_PROTOC_PLUGINS_DIR:-$HOME/.cache/tavana/protoc-plugins}"
BUILD_CONFIG="${TAVANA_PROTOC_BUILD_CONFIG:-debug}"

log() { printf '[generate-protos] %s\n' "$*" >&2; }
die() { printf '[generate-protos] ERROR: %s\n' "$*" >&2; exit 1; }

MODE="generate"
for arg in "$@"; do
    case "$arg" in
        --plugins-only) MODE="plugins" ;;
        --check) MODE="check" ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $arg (see --help)" ;;
    esac
done

case "$BUILD_CONFIG" in debug|release) ;; *) die "TAVANA_PROTOC_BUILD_CONFIG must be debug or release, not '$BUILD_CONFIG'" ;; esac

# --- 1. protoc and the well-known types --------------------------------------------------

find_wkt_include() {
    local dir
    for dir in /usr/include /usr/local/include; do
        if [[ -f "$dir/google/protobuf/timestamp.proto" ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
    return 1
}

ensure_protoc() {
    if command -v protoc >/dev/null 2>&1 && find_wkt_include >/dev/null; then
        log "protoc: $(command -v protoc) ($(protoc --version))"
        return
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "protoc or google/protobuf/timestamp.proto is missing and apt-get is not available; install protoc (>= 3.15) and the protobuf well-known .proto files"
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "installing protoc needs root (or sudo)"
        sudo=(sudo)
    fi
    log "installing protobuf-compiler and libprotobuf-dev with apt-get"
    "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq protobuf-compiler libprotobuf-dev >/dev/null \
        || die "apt-get install protobuf-compiler libprotobuf-dev failed"
    command -v protoc >/dev/null 2>&1 || die "protoc still not found after apt-get install"
    find_wkt_include >/dev/null || die "google/protobuf/timestamp.proto still not found after apt-get install"
    log "protoc: $(command -v protoc) ($(protoc --version))"
}

# --- 2. the plugins ------------------------------------------------------------------------

plugin_manifest() {
    cat <<EOF
// swift-tools-version:6.1
// Written by tavana/scripts/generate-protos.sh: builds the protoc plugins used to
// regenerate Sources/FlightProtocol/Generated. Not part of the Tavana package.
import PackageDescription

let package = Package(
    name: "tavana-protoc-plugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", exact: "$SWIFT_PROTOBUF_VERSION"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "$GRPC_SWIFT_PROTOBUF_VERSION"),
    ],
    targets: []
)
EOF
}

build_plugins() {
    command -v swift >/dev/null 2>&1 || die "swift is not on PATH"
    mkdir -p "$PLUGINS_DIR"
    local manifest="$PLUGINS_DIR/Package.swift"
    local wanted
    wanted="$(plugin_manifest)"
    if [[ ! -f "$manifest" ]] || [[ "$(cat "$manifest")" != "$wanted" ]]; then
        log "writing plugin package manifest to $manifest"
        printf '%s\n' "$wanted" >"$manifest"
        rm -f "$PLUGINS_DIR/Package.resolved"
    fi

    local product
    for product in protoc-gen-swift protoc-gen-grpc-swift-2; do
        log "building $product ($BUILD_CONFIG) in $PLUGINS_DIR (first run resolves and compiles: several minutes)"
        (cd "$PLUGINS_DIR" && swift build -c "$BUILD_CONFIG" --product "$product") \
            || die "swift build of $product failed (see output above)"
    done
    BIN_DIR="$(cd "$PLUGINS_DIR" && swift build -c "$BUILD_CONFIG" --show-bin-path)"
    for product in protoc-gen-swift protoc-gen-grpc-swift-2; do
        [[ -x "$BIN_DIR/$product" ]] || die "expected plugin binary $BIN_DIR/$product is missing"
    done
    log "plugins ready in $BIN_DIR"
}

# --- 3. generation -------------------------------------------------------------------------

run_protoc() {
    local dest="$1"
    local wkt
    wkt="$(find_wkt_include)"
    shopt -s nullglob
    local protos=("$PROTO_DIR"/*.proto)
    shopt -u nullglob
    [[ ${#protos[@]} -gt 0 ]] || die "no .proto files in $PROTO_DIR"
    local names=()
    local p
    for p in "${protos[@]}"; do names+=("$(basename "$p")"); done
    log "running protoc on ${names[*]}"
    # Relative proto paths keep the "source file" headers in the generated code free of
    # machine-specific absolute paths.
    (cd "$PROTO_DIR" && protoc \
        --plugin="protoc-gen-swift=$BIN_DIR/protoc-gen-swift" \
        --plugin="protoc-gen-grpc-swift-2=$BIN_DIR/protoc-gen-grpc-swift-2" \
        --swift_out="Visibility=Public:$dest" \
        --grpc-swift-2_out="Visibility=Public,Server=true,Client=true:$dest" \
        -I . -I "$wkt" \
        "${names[@]}") || die "protoc failed"
}

ensure_protoc
build_plugins
if [[ "$MODE" == "plugins" ]]; then
    log "done (--plugins-only)"
    exit 0
fi

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/tavana-protos.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
run_protoc "$SCRATCH"

# protoc-gen-grpc-swift-2 writes a placeholder .grpc.swift even for a file without services
# (flight_sql.proto); it holds no code, so leave it out.
for f in "$SCRATCH"/*.grpc.swift; do
    [[ -e "$f" ]] || continue
    if grep -q '^// This file contained no services' "$f"; then rm -f "$f"; fi
done

shopt -s nullglob
generated=("$SCRATCH"/*.swift)
shopt -u nullglob
[[ ${#generated[@]} -gt 0 ]] || die "protoc produced no Swift files"

# Each .proto's code goes to the module that owns it: worker.proto (the gateway↔worker
# protocol) to WorkerProtocol, the Flight protocols to FlightProtocol.
dest_for() {
    case "$(basename "$1")" in
        worker.*) printf '%s\n' "$REPO_ROOT/Sources/WorkerProtocol/Generated" ;;
        *) printf '%s\n' "$OUT_DIR" ;;
    esac
}
DEST_DIRS=("$OUT_DIR" "$REPO_ROOT/Sources/WorkerProtocol/Generated")

if [[ "$MODE" == "check" ]]; then
    stale=0
    for d in "${DEST_DIRS[@]}"; do
        rm -rf "$SCRATCH/current" "$SCRATCH/fresh"
        mkdir -p "$SCRATCH/current" "$SCRATCH/fresh"
        shopt -s nullglob
        for f in "$d"/*.pb.swift "$d"/*.grpc.swift; do cp "$f" "$SCRATCH/current/"; done
        shopt -u nullglob
        for f in "${generated[@]}"; do [[ "$(dest_for "$f")" == "$d" ]] && cp "$f" "$SCRATCH/fresh/"; done
        if ! diff -ru "$SCRATCH/current" "$SCRATCH/fresh" >&2; then
            log "${d#"$REPO_ROOT"/} is stale: run scripts/generate-protos.sh"
            stale=1
        fi
    done
    [[ $stale -eq 0 ]] || die "generated code is stale"
    log "generated code is up to date"
    exit 0
fi

for d in "${DEST_DIRS[@]}"; do
    mkdir -p "$d"
    # Drop earlier output (a .proto may have been removed or renamed), then copy the new files.
    rm -f "$d"/*.pb.swift "$d"/*.grpc.swift
done
for f in "${generated[@]}"; do
    d="$(dest_for "$f")"
    cp "$f" "$d/"
    log "wrote ${d#"$REPO_ROOT"/}/$(basename "$f")"
done
log "done"
