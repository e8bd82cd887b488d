#!/bin/sh
# SPDX-License-Identifier: MIT
# check-abi.sh BUILD - libgmem.so exports exactly the functions gmem.h
# declares, under the GMEM_0.2 version node, with the soname libgmem.so.0.
here=$(cd "$(dirname "$0")/.." && pwd)
so="$1/libgmem.so"
if ! command -v nm >/dev/null || ! command -v readelf >/dev/null; then
	echo "SKIP abi_exports: nm/readelf (binutils) not installed"
	exit 77
fi
exported=$(nm -D --defined-only "$so" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort -u)
declared=$(grep -oE '\bgmem_[a-z0-9_]+\(' "$here/include/gmem.h" | tr -d '(' | sort -u)
if [ "$exported" = "$declared" ]; then
	echo "PASS abi_exports_match_header"
else
	echo "FAIL abi_exports_match_header: differs from gmem.h:"
	echo "$exported" > /tmp/gmem-abi-exp.$$
	echo "$declared" | diff - /tmp/gmem-abi-exp.$$ | sed 's/^/    /'
	rm -f /tmp/gmem-abi-exp.$$
fi
if nm -D --defined-only "$so" | grep -q 'GMEM_0\.2'; then
	echo "PASS abi_version_node"
else
	echo "FAIL abi_version_node: no GMEM_0.2 symbol version"
fi
if readelf -d "$so" | grep -q 'SONAME.*\[libgmem\.so\.0\]'; then
	echo "PASS abi_soname"
else
	echo "FAIL abi_soname: soname is not libgmem.so.0"
fi
