#!/bin/sh
# SPDX-License-Identifier: MIT
# check-man.sh [BUILD] - the manual pages in docs/man against the library
# and the header: every function libgmem.so exports has a page of its own
# (or a .so link to the page that documents it), and no page is left for a
# function that is gone; each page names what it documents; .so links and
# cross references lead to pages that exist; gmem.7 lists every page; each
# SYNOPSIS says exactly what gmem.h declares (prototypes, structs, enums,
# typedefs and macro values, comments and spacing aside); the tools' pages
# name every option the tools take; each ERRORS section is what
# tests/man-errors.sh makes of docs/errors.md, and every test case that
# file names exists; and every page renders without a warning, within 80
# columns, with man and with groff.
# Prints PASS/FAIL/SKIP lines and the closing line
# "N passed, N failed, N skipped"; exits 1 if anything failed.
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[ -d "$build" ] && build=$(cd "$build" && pwd)
mandir=$here/docs/man
header=$here/include/gmem.h
pass=0 fail=0 skip=0
tmp=$(mktemp -d /tmp/gmem-man.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
skipped() { echo "SKIP $*"; skip=$((skip + 1)); }

# The page a name's file stands for: itself, or the target of its .so.
so_target() { # FILE -> prints "manN/name.N" or nothing
	awk '/^\.\\"/ { next } /^\.so / { print $2 } { exit }' "$1"
}
documenting_page() { # FILE -> prints the file that holds the text
	t=$(so_target "$1")
	if [ -n "$t" ]; then echo "$mandir/${t##*/}"; else echo "$1"; fi
}
# The names a page's NAME section lists, one per line.
page_names() { # FILE
	awk '
		/^\.SH / { in_name = ($2 == "NAME"); next }
		in_name && !/^\./ {
			line = $0
			if (sub(/ \\-.*/, "", line))
				in_name = 0	# the description follows
			gsub(/\\-/, "-", line)
			gsub(/,/, " ", line)
			n = split(line, w, " ")
			for (i = 1; i <= n; i++)
				print w[i]
		}' "$1"
}
# Cross references ".BR name (N)" of a page: "name N" per line; with a
# second argument, only those in its SEE ALSO section.
page_refs() { # FILE [see-also]
	awk -v only="${2:-}" '
		/^\.SH / { in_see = ($0 ~ /^\.SH "?SEE ALSO"?$/); next }
		only != "" && !in_see { next }
		$1 == ".BR" && $3 ~ /^\([0-9]\)/ {
			name = $2
			gsub(/\\-/, "-", name)
			gsub(/"/, "", name)
			print name, substr($3, 2, 1)
		}' "$1"
}

pages=
for f in "$mandir"/*.[0-9]; do
	[ -f "$f" ] && pages="$pages ${f##*/}"
done
if [ -z "$pages" ]; then
	bad "man_pages: no pages in docs/man"
	echo "$pass passed, $fail failed, $skip skipped"
	exit 1
fi

# ---- every export has a page, and every function page an export ----
so=$build/libgmem.so
if ! command -v nm >/dev/null; then
	bad "man_every_export_has_a_page: nm (binutils) is not installed"
elif [ ! -e "$so" ]; then
	bad "man_every_export_has_a_page: $so is missing (run make first)"
else
	nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' |
		sed 's/@.*//' | sort -u >"$tmp/exports"
	n=0 missing=0
	while read -r sym; do
		n=$((n + 1))
		if [ ! -f "$mandir/$sym.3" ]; then
			bad "man_page_for_export: $sym has no docs/man/$sym.3"
			missing=$((missing + 1))
		fi
	done <"$tmp/exports"
	[ "$missing" = 0 ] &&
		ok "man_every_export_has_a_page: $n functions, each with docs/man/<name>.3"
	stale=0
	for p in $pages; do
		case $p in *.3) ;; *) continue ;; esac
		if ! grep -qx "${p%.3}" "$tmp/exports"; then
			bad "man_no_stale_page: docs/man/$p documents no function libgmem.so exports"
			stale=$((stale + 1))
		fi
	done
	[ "$stale" = 0 ] && ok "man_no_stale_page: every section-3 page is an exported function"
fi

# ---- .so links lead to a page that exists and names the link ----
links=0 broken=0
for p in $pages; do
	t=$(so_target "$mandir/$p")
	[ -n "$t" ] || continue
	links=$((links + 1))
	sec=${p##*.}
	case $t in
	man"$sec"/*."$sec") ;;
	*) bad "man_so_links: $p: '.so $t' is not man$sec/<page>.$sec"
	   broken=$((broken + 1)); continue ;;
	esac
	if [ ! -f "$mandir/${t##*/}" ]; then
		bad "man_so_links: $p: .so target $t does not exist"
		broken=$((broken + 1))
	elif [ -n "$(so_target "$mandir/${t##*/}")" ]; then
		bad "man_so_links: $p: .so target $t is itself a link"
		broken=$((broken + 1))
	fi
done
[ "$broken" = 0 ] && ok "man_so_links: $links links, each to a page that exists"

# ---- each page (or the page its link leads to) names it in NAME ----
unnamed=0
for p in $pages; do
	d=$(documenting_page "$mandir/$p")
	[ -f "$d" ] || continue		# reported above
	if ! page_names "$d" | grep -qx "${p%.*}"; then
		bad "man_names: ${d##*/}'s NAME section does not list ${p%.*}"
		unnamed=$((unnamed + 1))
	fi
done
[ "$unnamed" = 0 ] && ok "man_names: every page is listed in the NAME section that documents it"

# ---- cross references and SEE ALSO lead to pages that exist ----
dangling=0
refs=0
: >"$tmp/external"
for p in $pages; do
	[ -n "$(so_target "$mandir/$p")" ] && continue
	page_refs "$mandir/$p" >"$tmp/refs"
	if ! page_refs "$mandir/$p" see-also | grep -q .; then
		bad "man_see_also: $p has no SEE ALSO references"
		dangling=$((dangling + 1))
	fi
	while read -r name sec; do
		refs=$((refs + 1))
		case $name in
		gmem*)
			if [ ! -f "$mandir/$name.$sec" ]; then
				bad "man_see_also: $p refers to $name($sec), which is not in docs/man"
				dangling=$((dangling + 1))
			fi ;;
		esac
	done <"$tmp/refs"
	page_refs "$mandir/$p" see-also | grep -v '^gmem' >>"$tmp/external"
done
[ "$dangling" = 0 ] && ok "man_see_also: $refs references, every libgmem page referred to exists"
sort -u "$tmp/external" -o "$tmp/external"
if ! command -v man >/dev/null; then
	skipped "man_see_also_system: man is not installed, so the system pages in SEE ALSO ($(wc -l <"$tmp/external")) cannot be looked up"
else
	absent=
	while read -r name sec; do
		man -w "$sec" "$name" >/dev/null 2>&1 || absent="$absent $name($sec)"
	done <"$tmp/external"
	if [ -z "$absent" ]; then
		ok "man_see_also_system: the $(wc -l <"$tmp/external") system pages in SEE ALSO are installed"
	else
		skipped "man_see_also_system: not installed here:$absent (apt-get install manpages manpages-dev)"
	fi
fi

# ---- gmem.7 lists every other page in its SEE ALSO ----
if [ -f "$mandir/gmem.7" ]; then
	page_refs "$mandir/gmem.7" see-also | awk '{ print $1 "." $2 }' >"$tmp/listed"
	unlisted=
	for p in $pages; do
		[ "$p" = gmem.7 ] && continue
		grep -qxF "$p" "$tmp/listed" || unlisted="$unlisted $p"
	done
	if [ -z "$unlisted" ]; then
		ok "man_overview_lists_all: gmem.7's SEE ALSO names every page"
	else
		bad "man_overview_lists_all: gmem.7's SEE ALSO lacks:$unlisted"
	fi
else
	bad "man_overview_lists_all: docs/man/gmem.7 is missing"
fi

# ---- SYNOPSIS against gmem.h ----
# Both sides become lines "D name value" (macros), "B name body" (struct
# and enum definitions) and "P text" (declarations), with comments gone
# and white space normalised.
decls() { # reads C text on stdin
	awk '
	function norm(s) {
		gsub(/[ \t\r\n]+/, " ", s)
		gsub(/\( /, "(", s); gsub(/ \)/, ")", s)
		gsub(/ ,/, ",", s); gsub(/ ;/, ";", s)
		sub(/^ /, "", s); sub(/ $/, "", s)
		return s
	}
	function uncomment(s,   i, j, rest) {
		while ((i = index(s, "/*")) > 0) {
			rest = substr(s, i + 2)
			j = index(rest, "*/")
			if (j == 0)
				return substr(s, 1, i - 1)
			s = substr(s, 1, i - 1) " " substr(rest, j + 2)
		}
		return s
	}
	cont != "" { cont = cont " " $0; if (!/\\$/) { define(cont); cont = "" }; next }
	/^[ \t]*#[ \t]*define/ { if (/\\$/) cont = $0; else define($0); next }
	/^[ \t]*#/ || /^extern "C"/ { next }
	{ text = text "\n" $0 }
	function define(l,   name) {
		gsub(/\\$|\\ /, " ", l)
		l = norm(uncomment(l))
		sub(/^# ?define /, "", l)
		name = l; sub(/ .*/, "", name)
		sub(/^[^ ]*( |$)/, "", l)
		print "D " name " " l
	}
	END {
		s = norm(uncomment(text))
		while (match(s, /(struct|enum) [A-Za-z0-9_]+ \{[^}]*\}/)) {
			b = substr(s, RSTART, RLENGTH)
			split(b, w, " ")
			print "B " w[1] "_" w[2] " " b
			s = substr(s, 1, RSTART - 1) substr(s, RSTART + RLENGTH)
		}
		n = split(s, piece, ";")
		for (i = 1; i <= n; i++) {
			p = norm(piece[i])
			if (p != "" && p != "}")
				print "P " p
		}
	}'
}
# A page's SYNOPSIS as plain text: font macros and escapes undone.
synopsis_text() { # FILE
	awk '
	function args(s, a,   n, i, c, cur, q) {
		n = 0; i = 1; cur = ""; q = 0
		while (i <= length(s)) {
			c = substr(s, i, 1)
			if (c == "\\") { cur = cur substr(s, i, 2); i += 2; continue }
			if (c == "\"") {
				if (q && substr(s, i + 1, 1) == "\"") { cur = cur "\""; i += 2; continue }
				q = !q; i++; continue
			}
			if (!q && (c == " " || c == "\t")) {
				if (cur != "" || started) { a[++n] = cur; cur = "" }
				started = 0; i++; continue
			}
			cur = cur c; started = 1; i++
		}
		if (cur != "" || started) a[++n] = cur
		started = 0
		return n
	}
	function unescape(s) {
		gsub(/\\f\[[A-Za-z]*\]|\\f\([A-Za-z][A-Za-z]|\\f[A-Za-z0-9]/, "", s)
		gsub(/\\-/, "-", s); gsub(/\\\(dq/, "\"", s); gsub(/\\\(aq/, "\047", s)
		gsub(/\\&|\\\|/, "", s); gsub(/\\ /, " ", s); gsub(/\\e/, "\\", s)
		return s
	}
	/^\.SH / { in_syn = ($2 == "SYNOPSIS"); next }
	!in_syn || /^\.\\"/ { next }
	/^\./ {
		m = $1; rest = $0; sub(/^\.[^ ]* ?/, "", rest)
		n = args(rest, a); out = ""
		if (m == ".B" || m == ".I") {
			for (i = 1; i <= n; i++) out = out (i > 1 ? " " : "") a[i]
		} else if (m ~ /^\.(BI|BR|IB|IR|RB|RI)$/) {
			for (i = 1; i <= n; i++) out = out a[i]
		}
		print unescape(out)
		next
	}
	{ print unescape($0) }' "$1"
}

decls <"$header" >"$tmp/header.decls"
checked=0 protos=0 blocks=0 macros=0 wrong=0
for p in $pages; do
	case $p in *.3) ;; *) continue ;; esac
	[ -n "$(so_target "$mandir/$p")" ] && continue
	checked=$((checked + 1))
	synopsis_text "$mandir/$p" | decls >"$tmp/page.decls"
	while read -r kind name rest; do
		case $kind in
		D)	macros=$((macros + 1))
			want=$(awk -v n="$name" '$1 == "D" && $2 == n { $1 = $2 = ""; sub(/^  /, ""); print; f = 1 } END { exit !f }' "$tmp/header.decls") || {
				bad "man_synopsis: $p: macro $name is not in gmem.h"
				wrong=$((wrong + 1)); continue; }
			if [ -n "$rest" ] && [ "$rest" != "$want" ]; then
				bad "man_synopsis: $p: $name is '$rest' here, '$want' in gmem.h"
				wrong=$((wrong + 1))
			fi ;;
		B)	blocks=$((blocks + 1))
			if ! grep -qxF "B $name $rest" "$tmp/header.decls"; then
				bad "man_synopsis: $p: $name differs from gmem.h: $rest"
				wrong=$((wrong + 1))
			fi ;;
		P)	protos=$((protos + 1))
			if ! grep -qxF "P $name $rest" "$tmp/header.decls"; then
				bad "man_synopsis: $p: '$name $rest' is not declared so in gmem.h"
				wrong=$((wrong + 1))
			fi ;;
		esac
	done <"$tmp/page.decls"
	# Each function the page documents is declared in its SYNOPSIS.
	for f in $(page_names "$mandir/$p"); do
		[ -f "$mandir/$f.3" ] || continue
		if ! awk -v f="$f(" '$1 == "P" { i = index($0, f); c = substr($0, i - 1, 1)
			if (i && (c == " " || c == "*")) found = 1 } END { exit !found }' "$tmp/page.decls"; then
			bad "man_synopsis: $p documents $f but its SYNOPSIS does not declare it"
			wrong=$((wrong + 1))
		fi
	done
done
[ "$wrong" = 0 ] &&
	ok "man_synopsis_matches_header: $checked pages: $protos declarations, $blocks structs and enums, $macros macros as in gmem.h"

# ---- the tools' pages name every option the tools take ----
tool_options() { # SOURCE... -> long option names
	sed -n 's/^[[:space:]]*{ "\([a-z0-9-]*\)", \(no\|required\|optional\)_argument.*/\1/p' "$@" | sort -u
}
check_options() { # PAGE LABEL SOURCE...
	page=$1 label=$2
	shift 2
	lacking=
	sed 's/\\-/-/g' "$mandir/$page" >"$tmp/plain"
	for o in $(tool_options "$@"); do
		grep -q -e "--$o\([^a-z0-9-]\|$\)" "$tmp/plain" ||
			lacking="$lacking --$o"
	done
	if [ -z "$lacking" ]; then
		ok "man_tool_options: $page names every option of $label ($(tool_options "$@" | wc -l))"
	else
		bad "man_tool_options: $page lacks$lacking"
	fi
}
check_options gmemctl.1 gmemctl "$here"/tools/cmd_*.c
check_options gmem-vmm.1 gmem-vmm "$here"/vmm/main.c

# ---- ERRORS sections: made from docs/errors.md, whose tests exist ----
if sh "$here/tests/man-errors.sh" --check >"$tmp/errors.out" 2>&1; then
	ok "man_errors_generated: $(sed 's/^man-errors: //' "$tmp/errors.out")"
else
	bad "man_errors_generated: $(tr '\n' ' ' <"$tmp/errors.out")"
fi
# Every "test_x: case, case" that docs/errors.md names is a T_CASE of
# tests/test_x.c ("prefix_*" stands for the cases that start so).
for f in "$here"/tests/test_*.c; do
	b=${f##*/}
	sed -n 's/.*T_CASE(\([A-Za-z0-9_]*\)).*/\1/p' "$f" | sed "s/^/${b%.c} /"
done >"$tmp/cases"
awk -v errors=docs/errors.md '
function exists(file, c,   k) {
	if (c !~ /\*$/)
		return (file " " c) in have
	for (k in have)
		if (index(k, file " " substr(c, 1, length(c) - 1)) == 1)
			return 1
	return 0
}
NR == FNR { have[$1 " " $2] = 1; next }
/^\|/ && !/^\|[- |]+\|$/ {
	n = split($0, cell, "|")
	s = cell[n - 1]			# Test (file: case), or How it is tested
	while (match(s, /test_[a-z0-9_]+/)) {
		file = substr(s, RSTART, RLENGTH)
		s = substr(s, RSTART + RLENGTH)
		# Its cases: after the next ":", up to ";" or the next file.
		seg = s
		if (match(seg, /;|test_[a-z0-9_]+/))
			seg = substr(seg, 1, RSTART - 1)
		if (!index(seg, ":"))
			continue
		seg = substr(seg, index(seg, ":") + 1)
		while (match(seg, /^[ ,]*[a-z0-9_]+\*?/)) {
			c = substr(seg, RSTART, RLENGTH)
			seg = substr(seg, RSTART + RLENGTH)
			gsub(/[ ,]/, "", c)
			refs++
			if (!exists(file, c)) {
				missing = missing " " file ":" c
				nmiss++
			}
			if (seg !~ /^ *,/)
				break
		}
	}
}
END {
	if (nmiss)
		print "FAIL man_errors_tests: " errors " names test cases that do not exist:" missing
	else
		print "PASS man_errors_tests: the " refs " test cases " errors " names are T_CASEs of their files"
	exit nmiss != 0
}' "$tmp/cases" "$here/docs/errors.md" >"$tmp/refs.out" || true
case $(cat "$tmp/refs.out") in
PASS\ *) ok "$(sed 's/^PASS //' "$tmp/refs.out")" ;;
*) bad "$(sed 's/^FAIL //' "$tmp/refs.out")" ;;
esac

# ---- every page renders without a warning, within 80 columns ----
# Rendered from a man1/man3/man7 tree, as installed, so .so links resolve.
for p in $pages; do
	mkdir -p "$tmp/tree/man${p##*.}"
	cp "$mandir/$p" "$tmp/tree/man${p##*.}/"
done
render_check() { # LABEL COMMAND... (run in the tree, page appended)
	label=$1
	shift
	noisy=0
	for p in $pages; do
		rel=man${p##*.}/$p
		(cd "$tmp/tree" && "$@" "$rel") >"$tmp/out" 2>"$tmp/err"
		rc=$?
		if [ "$rc" != 0 ] || [ -s "$tmp/err" ]; then
			bad "$label: $p: status $rc: $(head -n 2 "$tmp/err" | tr '\n' ' ')"
			noisy=$((noisy + 1))
		elif [ "$label" = man_renders ] &&
			wide=$(awk 'length > 80 { print; exit 1 }' "$tmp/out"); then
			:
		elif [ "$label" = man_renders ]; then
			bad "$label: $p: a line wider than 80 columns: $wide"
			noisy=$((noisy + 1))
		fi
	done
	[ "$noisy" = 0 ] && ok "$label: $(echo "$pages" | wc -w) pages without a warning"
}
if command -v man >/dev/null; then
	render_check man_renders env LC_ALL=C MANWIDTH=80 man --warnings -l
else
	skipped "man_renders: man is not installed (apt-get install man-db)"
fi
if command -v groff >/dev/null; then
	render_check groff_renders env LC_ALL=C groff -s -man -ww -z -Tascii
else
	skipped "groff_renders: groff is not installed (apt-get install groff-base)"
fi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
