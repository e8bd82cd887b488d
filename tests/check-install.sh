#!/bin/sh
# SPDX-License-Identifier: MIT
# check-install.sh BUILD - install into a scratch prefix, build a program
# outside the tree with pkg-config alone, run it against the installed
# shared library, and take everything out again with make uninstall.
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-build}" && pwd)
if ! command -v pkg-config >/dev/null; then
	echo "FAIL install_consumer: pkg-config is not installed (apt-get install pkg-config)"
	exit 1
fi
tmp=$(mktemp -d /tmp/gmem-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
mk() { make -C "$here" --no-print-directory BUILD="$build" PREFIX="$prefix" "$@"; }

if ! mk install >"$tmp/install.log" 2>&1; then
	echo "FAIL install: make install: $(tail -n 3 "$tmp/install.log" | tr '\n' ' ')"
	exit 1
fi
echo "PASS install: $(find "$prefix" -type f | wc -l) files under a scratch prefix"

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
flags=$(pkg-config --cflags --libs gmem) || {
	echo "FAIL install_pkg_config: pkg-config does not know gmem"; exit 1; }
want=$(sed -n 's/^#define GMEM_VERSION_\(MAJOR\|MINOR\|PATCH\) *\([0-9]*\)$/\2/p' \
	"$here/include/gmem.h" | paste -sd. -)
[ "$(pkg-config --modversion gmem)" = "$want" ] &&
	echo "PASS install_pkg_config: gmem $want: $flags" ||
	echo "FAIL install_pkg_config: version $(pkg-config --modversion gmem), not $want"

# shellcheck disable=SC2086
if ! cc -o "$tmp/consumer" "$here/tests/consumer/consumer.c" $flags 2>"$tmp/cc.log"; then
	echo "FAIL install_consumer: building with pkg-config's flags: $(head -n 3 "$tmp/cc.log")"
	exit 1
fi
# The shared library from the prefix, not the static one nor the tree's.
lib=$(LD_LIBRARY_PATH=$prefix/lib ldd "$tmp/consumer" | awk '/libgmem/ { print $3 }')
out=$(LD_LIBRARY_PATH=$prefix/lib "$tmp/consumer")
rc=$?
if [ "$rc" = 0 ] && [ "$lib" = "$prefix/lib/libgmem.so.${want%%.*}" ]; then
	echo "PASS install_consumer: runs against $lib: $(echo "$out" | tr '\n' ';')"
else
	echo "FAIL install_consumer: status $rc, library '$lib': $out"
fi

# The same program linked statically (pkg-config --static): it runs with
# no libgmem.so to be found, and nothing of the library's insides clashes
# with a program's own names.
# shellcheck disable=SC2086
if cc -o "$tmp/consumer-static" "$here/tests/consumer/consumer.c" \
	$(pkg-config --cflags gmem) "$prefix/lib/libgmem.a" \
	$(pkg-config --static --libs-only-l gmem | sed 's/-lgmem//') \
	2>"$tmp/cc-static.log"; then
	out=$("$tmp/consumer-static")
	rc=$?
	if [ "$rc" = 0 ] && ! ldd "$tmp/consumer-static" | grep -q libgmem; then
		echo "PASS install_static_consumer: runs from libgmem.a: $(echo "$out" | tr '\n' ';')"
	else
		echo "FAIL install_static_consumer: status $rc: $out"
	fi
else
	echo "FAIL install_static_consumer: linking libgmem.a: $(head -n 3 "$tmp/cc-static.log")"
fi

# Each installed page renders; from the top of the tree, as man itself
# reads them, so that ".so man3/page.3" links resolve.
if ! command -v man >/dev/null; then
	echo "SKIP install_man: man is not installed (apt-get install man-db)"
else
	pages=0
	for m in "$prefix"/share/man/man*/*; do
		[ -e "$m" ] || continue
		if ! (cd "$prefix/share/man" && MANWIDTH=80 man -l "${m#"$prefix"/share/man/}") \
			>/dev/null 2>"$tmp/man.err" || [ -s "$tmp/man.err" ]; then
			echo "FAIL install_man: $m does not render: $(head -n 2 "$tmp/man.err")"
			exit 1
		fi
		pages=$((pages + 1))
	done
	echo "PASS install_man: $pages installed pages render"
fi

# Bash completion, installed where bash-completion looks, completing from
# the installed gmemctl's own option tables.
comp=$prefix/share/bash-completion/completions/gmemctl
complete_words() { # WORD...
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_gmemctl; echo "${COMPREPLY[*]}"' _ "$comp" "$prefix/bin/gmemctl" "$@"
}
if [ ! -f "$comp" ]; then
	echo "FAIL install_completion: $comp is missing"
elif [ "$(complete_words de)" = demo ] &&
     [ "$(complete_words demo --prealloc)" = "--prealloc-threads=" ] &&
     [ "$(complete_words demo --backend gu)" = guest_memfd ] &&
     [ "$(complete_words demo --policy = inter)" = interleave ] &&
     [ "$(complete_words stats --wa)" = "--watch" ]; then
	echo "PASS install_completion: commands, options and values complete"
else
	echo "FAIL install_completion: 'de' -> '$(complete_words de)'," \
		"'demo --prealloc' -> '$(complete_words demo --prealloc)'," \
		"'demo --backend gu' -> '$(complete_words demo --backend gu)'"
fi

mk uninstall >"$tmp/uninstall.log" 2>&1
left=$(find "$prefix" -type f | sed "s|$prefix/||")
[ -z "$left" ] && echo "PASS uninstall: nothing left" ||
	echo "FAIL uninstall: left behind: $(echo "$left" | tr '\n' ' ')"
