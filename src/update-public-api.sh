#!/usr/bin/env bash
# Regenerates PublicAPI.Unshipped.txt from the RS0016/RS0017 diagnostics of a build.
set -euo pipefail
proj=${1:-src/KvBlockPool}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$(dotnet build "$proj" -c Release --no-incremental 2>&1 || true)
echo "$out" | grep -oP "error RS0016: Symbol '\K[^']+(?=' is not part of the declared public API)" | sort -u > "$work/add.txt" || true
echo "$out" | grep -oP "error RS0017: Symbol '\K[^']+(?=' is part of the declared)" | sort -u > "$work/remove.txt" || true
f=$proj/PublicAPI.Unshipped.txt
{ echo '#nullable enable'; ( tail -n +2 "$f" | { grep -vxF -f "$work/remove.txt" || true; } ; cat "$work/add.txt" ) | { grep -v "^$" || true; } | sort -u; } > "$work/new.txt"
mv "$work/new.txt" "$f"
echo "added $(wc -l < "$work/add.txt"), removed $(wc -l < "$work/remove.txt")"
