#!/bin/sh
# SPDX-License-Identifier: MIT
# check-abi.sh BUILD - libgmem.so exports exactly the functions gmem.h
# declares, under the symbol version node and with the soname that gmem.h's
# version says, and nothing of the library's insides.
here=$(cd "$(dirname "$0")/.." && pwd)
so="$1/libgmem.so"
if ! command -v nm >/dev/null || ! command -v readelf >/dev/null; then
	echo "FAIL abi_exports: nm/readelf (binutils) not installed"
	exit 1
fi
part() { sed -n "s/^#define GMEM_VERSION_$1 *\([0-9]*\)$/\1/p" "$here/include/gmem.h"; }
major=$(part MAJOR) minor=$(part MINOR)
node="GMEM_$major.$minor"

exported=$(nm -D --defined-only "$so" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort -u)
declared=$(grep -oE '\bgmem_[a-z0-9_]+\(' "$here/include/gmem.h" | tr -d '(' | sort -u)
if [ "$exported" = "$declared" ]; then
	echo "PASS abi_exports_match_header: $(echo "$exported" | wc -l) functions"
else
	echo "FAIL abi_exports_match_header: differs from gmem.h:"
	echo "$exported" >/tmp/gmem-abi-exp.$$
	echo "$declared" | diff - /tmp/gmem-abi-exp.$$ | sed 's/^/    /'
	rm -f /tmp/gmem-abi-exp.$$
fi
# Every export carries the node of gmem.h's version, the newest in the map.
if [ "$(nm -D --defined-only "$so" | awk '$2 == "T"' | grep -vc "@@$node\$")" = 0 ] &&
	grep -q "^$node {" "$here/src/libgmem.map"; then
	echo "PASS abi_version_node: $node, as gmem.h says"
else
	echo "FAIL abi_version_node: exports not all under $node (gmem.h's version)"
fi
if readelf -d "$so" | grep -q "SONAME.*\[libgmem\.so\.$major\]"; then
	echo "PASS abi_soname: libgmem.so.$major"
else
	echo "FAIL abi_soname: soname is not libgmem.so.$major"
fi
# Nothing internal leaves: no other global symbol than the API and its node.
others=$(nm -D --defined-only "$so" | awk '$2 != "A" && $3 !~ /^gmem_/ {print $3}')
[ -z "$others" ] && echo "PASS abi_nothing_internal" ||
	echo "FAIL abi_nothing_internal: also exported: $(echo "$others" | tr '\n' ' ')"
