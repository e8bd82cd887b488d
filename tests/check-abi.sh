#!/bin/sh
# SPDX-License-Identifier: MIT
# check-abi.sh BUILD - libgmem.so exports exactly the functions gmem.h
# declares and the version script lists, under the symbol version node and
# with the soname that gmem.h's version says, and nothing of the library's
# insides; libgmem.a offers a static link the same functions and no more.
here=$(cd "$(dirname "$0")/.." && pwd)
so="$1/libgmem.so"
if ! command -v nm >/dev/null || ! command -v readelf >/dev/null; then
	echo "FAIL abi_exports: nm/readelf (binutils) not installed"
	exit 1
fi
part() { sed -n "s/^#define GMEM_VERSION_$1 *\([0-9]*\)$/\1/p" "$here/include/gmem.h"; }
major=$(part MAJOR) minor=$(part MINOR)
node="GMEM_$major.$minor"

# same NAME WANT GOT PASS-TEXT FAIL-TEXT: two sorted lists must be equal.
same() {
	if [ -n "$3" ] && [ "$2" = "$3" ]; then
		echo "PASS $1: $4"
	else
		echo "FAIL $1: $5:"
		echo "$2" >/tmp/gmem-abi.$$
		echo "$3" | diff /tmp/gmem-abi.$$ - | sed 's/^/    /' | head -20
		rm -f /tmp/gmem-abi.$$
	fi
}

exported=$(nm -D --defined-only "$so" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort -u)
declared=$(grep -oE '\bgmem_[a-z0-9_]+\(' "$here/include/gmem.h" | tr -d '(' | sort -u)
same abi_exports_match_header "$declared" "$exported" \
	"$(echo "$exported" | wc -l) functions" "differs from gmem.h"
# The version script lists exactly what is exported: a name in the script
# that no code defines, or an export the script does not name, is a slip.
listed=$(sed -n 's/^[[:space:]]*\(gmem_[a-z0-9_]*\);.*/\1/p' "$here/src/libgmem.map" | sort -u)
same abi_map_matches_exports "$exported" "$listed" \
	"src/libgmem.map names the $(echo "$listed" | wc -l) exports" \
	"src/libgmem.map and the exports differ"
# One node per release: each export carries a node of the map, and the
# newest node is gmem.h's version.
newest=$(sed -n 's/^\(GMEM_[0-9.]*\) {.*/\1/p' "$here/src/libgmem.map" | tail -n 1)
unnoded=$(nm -D --defined-only "$so" | awk '$2 == "T" {print $3}' | while IFS= read -r sym; do
	grep -q "^${sym#*@@} {" "$here/src/libgmem.map" || echo "$sym"; done)
if [ "$newest" = "$node" ] && [ -z "$unnoded" ]; then
	echo "PASS abi_version_node: $node, as gmem.h says, the newest of $(grep -c '^GMEM_[0-9.]* {' "$here/src/libgmem.map") nodes"
else
	echo "FAIL abi_version_node: newest node $newest, gmem.h says $node; exports without a node of the map: $unnoded"
fi
if readelf -d "$so" | grep -q "SONAME.*\[libgmem\.so\.$major\]"; then
	echo "PASS abi_soname: libgmem.so.$major"
else
	echo "FAIL abi_soname: soname is not libgmem.so.$major"
fi
# The static library too: a static link sees the same API and no insides.
archive="$1/libgmem.a"
static=$(nm --defined-only "$archive" 2>/dev/null | awk 'NF == 3 && $2 ~ /^[A-Z]$/ {print $3}' | sort -u)
same abi_static_same_api "$exported" "$static" \
	"libgmem.a defines the $(echo "$static" | wc -l) API functions and nothing else" \
	"libgmem.a's global symbols differ from libgmem.so's exports"
# Nothing internal leaves: no other global symbol (function or data) than
# the API's functions and its node.
others=$(nm -D --defined-only "$so" | awk '$2 != "A" {print $3}' | sed 's/@.*//' |
	sort -u | grep -vxF "$declared")
[ -z "$others" ] && echo "PASS abi_nothing_internal" ||
	echo "FAIL abi_nothing_internal: also exported: $(echo "$others" | tr '\n' ' ')"
