#!/usr/bin/env bash
# Assembles into DEST the runtime file tree docker/Dockerfile describes, from what this
# machine has: /usr/local/bin/tavana, /opt/tavana/duckdb/{lib,extensions} (the pinned
# libduckdb and extensions), and a writable /tmp. No container engine runs here, so this is
# how the image's layout is checked: tests/clients/test_not_root.py starts the binary from
# the tree as a user that is not root, with the image's environment, and connects to it.
#
# The image's binary is a release build with the Swift runtime linked in statically
# (--static-swift-stdlib). A debug build links it dynamically, so the runtime libraries it
# uses are copied to usr/local/lib/swift: the tree then holds everything but the system
# libraries the runtime image installs (libc, libstdc++, zlib).
#
# usage: scripts/assemble-image-tree.sh DEST [BINARY]   (BINARY: the debug build's tavana)
set -euo pipefail
log() { printf '[assemble-image-tree] %s\n' "$*" >&2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:?usage: $0 DEST [BINARY]}"
binary="${2:-$(cd "$root" && swift build --show-bin-path)/tavana}"
duckdb_home="${TAVANA_DUCKDB_HOME:-$HOME/.cache/tavana/duckdb-1.5.5}"
[ -x "$binary" ] || { log "error: no binary at $binary (run make build)"; exit 1; }
[ -s "$duckdb_home/lib/libduckdb.so" ] || { log "error: no libduckdb in $duckdb_home (run make deps)"; exit 1; }

log "assembling the image's file tree in $dest"
install -d -m 0755 "$dest/usr/local/bin" "$dest/usr/local/lib/swift" "$dest/opt/tavana/duckdb"
install -d -m 1777 "$dest/tmp"
install -m 0755 "$binary" "$dest/usr/local/bin/tavana"
cp -R "$duckdb_home/lib" "$duckdb_home/extensions" "$dest/opt/tavana/duckdb/"
# The Swift runtime and Foundation a dynamically linked build needs (none for a static one).
ldd "$binary" | awk '/=> \// {print $3}' | while read -r lib; do
  case "$(basename "$lib")" in
    libswift*|libFoundation*|lib_Foundation*|libdispatch*|libBlocksRuntime*) cp -L "$lib" "$dest/usr/local/lib/swift/" ;;
  esac
done
chmod -R a+rX "$dest/usr" "$dest/opt"
log "done: $(du -sh "$dest" | cut -f1)"
