#!/usr/bin/env bash
# Regenerates PublicAPI.Unshipped.txt from the RS0016/RS0017 diagnostics of a build.
set -e
proj=${1:-src/KvBlockPool}
out=$(dotnet build $proj -c Release --no-incremental 2>&1 || true)
echo "$out" | grep -oP "error RS0016: Symbol '\K[^']+(?=' is not part of the declared public API)" | sort -u > /tmp/api_add.txt
echo "$out" | grep -oP "error RS0017: Symbol '\K[^']+(?=' is part of the declared)" | sort -u > /tmp/api_remove.txt
f=$proj/PublicAPI.Unshipped.txt
{ echo '#nullable enable'; ( tail -n +2 $f | { grep -vxF -f /tmp/api_remove.txt || true; } ; cat /tmp/api_add.txt ) | { grep -v "^$" || true; } | sort -u; } > /tmp/api_new.txt
mv /tmp/api_new.txt $f
echo "added $(wc -l < /tmp/api_add.txt), removed $(wc -l < /tmp/api_remove.txt)"
