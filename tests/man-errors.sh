#!/bin/sh
# SPDX-License-Identifier: MIT
# man-errors.sh [--check] - write the ERRORS section of every full
# section-3 page in docs/man from docs/errors.md, the one place the errors
# are kept.  For a page, the functions its NAME section lists (less those
# docs/errors.md says cannot fail) pick the rows whose Call column names
# them; docs/errors.md says how its columns are read.  The rest of each
# page is left as it is.
#
# With --check, nothing is written: the pages are made again in a
# temporary directory, and the script fails, naming them, if any page
# differs (docs/errors.md edited without running this, or a page's ERRORS
# section edited by hand).
#
# Either way it fails, saying why, if docs/errors.md names a function no
# page documents, or a page documents a function that can fail and no row
# names.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
errors=$here/docs/errors.md
mandir=$here/docs/man
check=0
case ${1:-} in
--check) check=1 ;;
"") ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

tmp=$(mktemp -d /tmp/gmem-man-errors.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/out"

die() { echo "man-errors: $*" >&2; exit 1; }

# ---- docs/errors.md into rows ----
# One line a row: where (row number, or the system table's line), calls
# (space-separated; "*ALL*" for every call, "prefix*" for a prefix),
# class (E: the error number in errno; P: another call's error, printed
# after the entries; N: a note; R: returns NULL), errno, text.  Rows
# that are not for the pages are left out.  "CANNOT name..." lists the
# calls that cannot fail.
awk -v src="$errors" '
function fail(msg) { print src ":" NR ": " msg > "/dev/stderr"; bad = 1 }
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
# Function names in backticks, and the "every call" wildcards.
function calls_of(cell,   out, s, t) {
	out = ""
	if (cell !~ /`/ && cell ~ /(every|all) calls?/)
		return "*ALL*"
	s = cell
	while (match(s, /`[^`]*`/)) {
		t = substr(s, RSTART + 1, RLENGTH - 2)
		s = substr(s, RSTART + RLENGTH)
		if (t ~ /^gmem_[a-z0-9_]+\*?$/)
			out = out (out == "" ? "" : " ") t
	}
	return out
}
/^Calls that cannot fail/ { in_cannot = 1 }
in_cannot {
	if ($0 == "") { in_cannot = 0; next }
	s = $0
	while (match(s, /`gmem_[a-z0-9_]+`/)) {
		cannot = cannot " " substr(s, RSTART + 1, RLENGTH - 2)
		s = substr(s, RSTART + RLENGTH)
	}
	next
}
/^\|/ {
	line = $0
	if (line ~ /^\|[- |]+\|$/)
		next			# the separator under a header
	n = split(line, c, "|")
	for (i = 2; i < n; i++)
		c[i] = trim(c[i])
	if (c[2] == "#") { kind = "input"; next }
	if (c[2] == "Error" && c[3] == "Calls") { kind = "system"; next }
	if (kind == "input") {
		where = c[2]; text = c[3]; calls = c[4]; err = c[5]
	} else if (kind == "system") {
		where = "line " NR; err = c[2]; calls = c[3]; text = c[4]
	} else {
		fail("a table row before any known header")
		next
	}
	names = calls_of(calls)
	if (names == "" || err ~ /^not returned/)
		next			# gmemctl, a pointer to other rows, info.error
	if (text == "")
		fail("row " where ": no text")
	if (err == "none")
		class = "N"
	else if (err == "NULL")
		class = "R"
	else {
		k = 0; e = ""; s = err
		while (match(s, /`E[A-Z0-9]+`/)) {
			k++
			e = substr(s, RSTART + 1, RLENGTH - 2)
			s = substr(s, RSTART + RLENGTH)
		}
		if (k > 1)
			fail("row " where ": several error numbers; give each a row of its own")
		class = k ? "E" : "P"
		err = e
	}
	printf "%s\t%s\t%s\t%s\t%s\n", where, names, class, err, text
}
END {
	print "CANNOT" cannot
	exit bad
}' "$errors" >"$tmp/rows" || die "docs/errors.md: the rows above cannot be read"

# ---- the pages ----
so_target() { # FILE -> "manN/name.N" if the page is a .so link
	awk '/^\.\\"/ { next } /^\.so / { print $2 } { exit }' "$1"
}
page_names() { # FILE -> the names its NAME section lists, on one line
	awk '
		/^\.SH / { in_name = ($2 == "NAME"); next }
		in_name && !/^\./ {
			line = $0
			if (sub(/ \\-.*/, "", line))
				in_name = 0
			gsub(/\\-/, "-", line)
			gsub(/,/, " ", line)
			out = out " " line
		}
		END { n = split(out, w, " "); s = ""
		      for (i = 1; i <= n; i++) s = s (i > 1 ? " " : "") w[i]
		      print s }' "$1"
}

: >"$tmp/pages"
for p in "$mandir"/*.3; do
	[ -f "$p" ] || continue
	[ -n "$(so_target "$p")" ] && continue
	printf '%s\t%s\n' "${p##*/}" "$(page_names "$p")" >>"$tmp/pages"
done
[ -s "$tmp/pages" ] || die "no section-3 pages in docs/man"

# Every function a row names is documented, and every documented function
# that can fail is named by a row.
awk -F '\t' '
NR == FNR { n = split($2, w, " "); for (i = 1; i <= n; i++) doc[w[i]] = $1; next }
/^CANNOT/ { n = split($0, w, " "); for (i = 2; i <= n; i++) cannot[w[i]] = 1; next }
{
	n = split($2, w, " ")
	for (i = 1; i <= n; i++) {
		if (w[i] == "*ALL*" || w[i] ~ /\*$/) { wild[w[i]] = 1; continue }
		named[w[i]] = 1
		if (!(w[i] in doc)) {
			print "man-errors: docs/errors.md row " $1 " names " w[i] \
			      ", which no page in docs/man documents" > "/dev/stderr"
			bad = 1
		}
	}
}
END {
	for (f in doc) {
		if (f in cannot || f in named)
			continue
		ok = ("*ALL*" in wild)
		for (p in wild)
			if (p != "*ALL*" && index(f, substr(p, 1, length(p) - 1)) == 1)
				ok = 1
		if (!ok) {
			print "man-errors: " doc[f] " documents " f ", which can fail, " \
			      "but no row of docs/errors.md names it" > "/dev/stderr"
			bad = 1
		}
	}
	exit bad
}' "$tmp/pages" "$tmp/rows" || die "docs/errors.md and docs/man disagree (above)"

# The ERRORS section of one page, from the rows.
cat >"$tmp/section.awk" <<'EOF'
function die(msg) { print "man-errors: " page ": " msg > "/dev/stderr"; exit 1 }
function has(key, f) { return index(" " key " ", " " f " ") > 0 }
function applies(f, calls,   n, w, i) {
	n = split(calls, w, " ")
	for (i = 1; i <= n; i++) {
		if (w[i] == "*ALL*" || w[i] == f)
			return 1
		if (w[i] ~ /\*$/ && index(f, substr(w[i], 1, length(w[i]) - 1)) == 1)
			return 1
	}
	return 0
}
# The union of two sets of the page's functions, in the page's order.
function union(a, b,   i, out) {
	out = ""
	for (i = 1; i <= nF; i++)
		if (has(a, F[i]) || has(b, F[i]))
			out = out (out == "" ? "" : " ") F[i]
	return out
}
function covers_all(key,   i) {
	for (i = 1; i <= nF; i++)
		if (FE[F[i]] && !has(key, F[i]))
			return 0
	return 1
}
# Text for groff: '-' and '\' escaped; hyphens inside words stay.
function esc(s, nbsp,   out, i, c) {
	out = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (c == "\\")
			out = out "\\e"
		else if (c == "-")
			out = out "\\-"
		else if (c == " " && nbsp)
			out = out "\001"	# "\ " once the lines are made
		else
			out = out c
	}
	return out
}
function code(span,   name) {
	if (span ~ /^[A-Za-z0-9_.\/]+\([0-9]\)$/) {
		name = span
		sub(/\([0-9]\)$/, "", name)
		return "\\fB" esc(name, 1) "\\fR" substr(span, length(name) + 1)
	}
	if (span ~ /\(\)$/)
		return "\\fB" esc(substr(span, 1, length(span) - 2), 1) "\\fR()"
	return "\\fB" esc(span, 1) "\\fR"
}
# Markdown of a cell: `code` bold, *argument* italic.
function md(s,   out, i, n, c, j, prev, next_c) {
	out = ""
	n = length(s)
	i = 1
	while (i <= n) {
		c = substr(s, i, 1)
		if (c == "`" || c == "*") {
			j = index(substr(s, i + 1), c)
			if (j == 0)
				die("unmatched " c " in: " s)
			if (c == "`")
				out = out code(substr(s, i + 1, j - 1))
			else
				out = out "\\fI" esc(substr(s, i + 1, j - 1), 0) "\\fR"
			i += j + 1
			continue
		}
		if (c == "\\")
			out = out "\\e"
		else if (c == "-") {
			prev = i > 1 ? substr(s, i - 1, 1) : ""
			next_c = substr(s, i + 1, 1)
			out = out ((prev ~ /[A-Za-z]/ && next_c ~ /[A-Za-z]/) ? "-" \
							       : "\\-")
		} else
			out = out c
		i++
	}
	return out
}
function cap(s) {
	if (substr(s, 1, 1) ~ /[a-z]/)
		return toupper(substr(s, 1, 1)) substr(s, 2)
	return s
}
function stop(s) { return s ~ /\.$/ ? s : s "." }
# "gmem_a(), gmem_b() and gmem_c()", in bold.
function fns(key,   n, w, i, out) {
	n = split(key, w, " ")
	out = ""
	for (i = 1; i <= n; i++)
		out = out (i == 1 ? "" : i == n ? " and " : ", ") "\\fB" w[i] "\\fR()"
	return out
}
# The same as the arguments of .RB, roman and bold in turn.
function rb(key,   n, w, i, out) {
	n = split(key, w, " ")
	out = ".RB ("
	for (i = 1; i <= n; i++)
		out = out " " w[i] " " (i == n ? "())" : i == n - 1 ? "\"() and \"" \
								: "\"(), \"")
	return out
}
# Lines of at most 72 columns; none may start with . or '.
function emit(s,   n, w, i, line) {
	n = split(s, w, " ")
	line = ""
	for (i = 1; i <= n; i++) {
		if (w[i] == "")
			continue
		if (line != "" && length(line) + 1 + length(w[i]) > 72) {
			put(line)
			line = w[i]
		} else
			line = line == "" ? w[i] : line " " w[i]
	}
	if (line != "")
		put(line)
}
function put(l) {
	gsub(/\001/, "\\ ", l)
	if (l ~ /^[.']/)
		l = "\\&" l
	print l
}
BEGIN {
	FS = "\t"
	nnames = split(names, nm, " ")
	nF = 0
	for (i = 1; i <= nnames; i++)
		if (!has(cannot, nm[i]))
			F[++nF] = nm[i]
	norder = split("EINVAL EBADF ENOTSOCK EPROTOTYPE ENOTTY ENOTDIR " \
		       "ENAMETOOLONG EFBIG EOVERFLOW ERANGE EXDEV ENOENT EEXIST " \
		       "EBUSY ENOSPC ENXIO EOPNOTSUPP ENODEV ESHUTDOWN ENOTCONN " \
		       "ECANCELED ETIMEDOUT EPROTO EMSGSIZE ECONNRESET EPIPE " \
		       "ECONNABORTED EACCES EFAULT EMFILE ENOMEM", order, " ")
	for (i = 1; i <= norder; i++)
		rank[order[i]] = i
}
/^CANNOT/ { next }
{
	nr++
	calls[nr] = $2; cls[nr] = $3; err[nr] = $4; txt[nr] = md($5)
	# Named outright: a call that returns NULL is not one a wildcard
	# row of error numbers applies to.
	if ($2 !~ /\*/)
		for (i = 1; i <= nF; i++)
			if (applies(F[i], $2))
				named[F[i], $3 == "R" ? "R" : "E"] = 1
}
END {
	print ".\\\" ERRORS: generated from docs/errors.md by tests/man-errors.sh; edit that file, not this page"
	if (nF == 0) {
		print "None."
		exit
	}
	# The rows for this page, each with the functions it applies to.
	m = 0
	for (r = 1; r <= nr; r++) {
		key = ""
		for (i = 1; i <= nF; i++) {
			f = F[i]
			if (!applies(f, calls[r]))
				continue
			if (calls[r] ~ /\*/ && cls[r] != "R" && ((f, "R") in named) &&
			    !((f, "E") in named))
				continue
			key = key (key == "" ? "" : " ") f
			if (cls[r] != "R")
				FE[f] = 1	# returns an error number
		}
		if (key == "")
			continue
		m++
		cls[m] = cls[r]; err[m] = err[r]; txt[m] = txt[r]; keys[m] = key
	}
	nr = m
	# The error numbers present, in the usual order, unknown ones last.
	ne = 0
	for (r = 1; r <= nr; r++)
		if (cls[r] == "E" && !(err[r] in seen)) {
			seen[err[r]] = 1
			elist[++ne] = err[r]
		}
	for (i = 2; i <= ne; i++)
		for (j = i; j > 1; j--) {
			a = elist[j - 1]; b = elist[j]
			ka = a in rank ? rank[a] : 1000
			kb = b in rank ? rank[b] : 1000
			if (ka < kb || (ka == kb && a <= b))
				break
			elist[j - 1] = b; elist[j] = a
		}
	for (i = 1; i <= ne; i++) {
		e = elist[i]
		# Its clauses, in the file's order, the same text once.
		nc = 0
		split("", at)
		for (r = 1; r <= nr; r++) {
			if (cls[r] != "E" || err[r] != e)
				continue
			if (txt[r] in at) {
				ck[at[txt[r]]] = union(ck[at[txt[r]]], keys[r])
				continue
			}
			at[txt[r]] = ++nc
			ct[nc] = txt[r]; ck[nc] = keys[r]
		}
		# Grouped by the functions they apply to: all of them first.
		ng = 0
		split("", gi)
		for (c = 1; c <= nc; c++) {
			g = covers_all(ck[c]) ? "" : ck[c]
			if (!(g in gi)) {
				gi[g] = ++ng
				gk[ng] = g; gt[ng] = ""
			}
			k = gi[g]
			gt[k] = gt[k] (gt[k] == "" ? "" : "; ") ct[c]
		}
		print ".TP"
		print ".B " e
		if (ng == 1 && gk[1] != "") {
			print rb(gk[1])
			emit(stop(cap(gt[1])))
			continue
		}
		if ("" in gi)
			emit(stop(cap(gt[gi[""]])))
		for (k = 1; k <= ng; k++)
			if (gk[k] != "")
				emit("For " fns(gk[k]) ": " stop(gt[k]))
	}
	# Other calls' errors, passed on.
	np = 0
	split("", at)
	for (r = 1; r <= nr; r++) {
		if (cls[r] != "P")
			continue
		if (txt[r] in at) {
			pk[at[txt[r]]] = union(pk[at[txt[r]]], keys[r])
			continue
		}
		at[txt[r]] = ++np
		pt[np] = txt[r]; pk[np] = keys[r]
	}
	if (np)
		print ".PP"
	for (k = 1; k <= np; k++) {
		if (covers_all(pk[k]))
			emit(stop("Also " pt[k]))
		else
			emit(stop(fns(pk[k]) (index(pk[k], " ") ? " also return " \
							     : " also returns ") pt[k]))
	}
	# Calls that return NULL, and when.
	for (i = 1; i <= nF; i++) {
		f = F[i]
		s = ""
		last = ""
		for (r = 1; r <= nr; r++) {
			if (cls[r] != "R" || !has(keys[r], f))
				continue
			if (last != "")
				s = s (s == "" ? "" : "; when ") last
			last = txt[r]
		}
		if (last == "")
			continue
		print ".PP"
		emit(stop("\\fB" f "\\fR() returns NULL, with a reason from " \
			  "\\fBgmem_last_error\\fR(3), when " s \
			  (s == "" ? "" : "; or when ") last))
	}
	# Notes.
	split("", at)
	for (r = 1; r <= nr; r++) {
		if (cls[r] != "N" || txt[r] in at)
			continue
		at[txt[r]] = 1
		print ".PP"
		emit(stop(cap(txt[r])))
	}
}
EOF

# ---- each page with its section made anew ----
changed=
while IFS='	' read -r page names; do
	awk -v page="$page" -v names="$names" \
	    -v cannot="$(sed -n 's/^CANNOT //p' "$tmp/rows")" \
	    -f "$tmp/section.awk" "$tmp/rows" >"$tmp/section" ||
		die "$page: its ERRORS section cannot be made"
	awk -v page="$page" -v section="$tmp/section" '
		skip && /^\.SH / { skip = 0 }
		skip { next }
		{ print }
		/^\.SH ERRORS$/ {
			while ((getline l < section) > 0)
				print l
			skip = 1; found = 1
		}
		END {
			if (!found) {
				print "man-errors: " page ": no .SH ERRORS" > "/dev/stderr"
				exit 1
			}
		}' "$mandir/$page" >"$tmp/out/$page" || exit 1
	cmp -s "$tmp/out/$page" "$mandir/$page" || changed="$changed $page"
done <"$tmp/pages"

if [ "$check" = 1 ]; then
	if [ -n "$changed" ]; then
		echo "man-errors: these pages differ from what docs/errors.md gives" \
		     "(run sh tests/man-errors.sh, and edit docs/errors.md, not the pages):$changed" >&2
		exit 1
	fi
	echo "man-errors: $(wc -l <"$tmp/pages") pages agree with docs/errors.md"
	exit 0
fi
for p in $changed; do
	cp "$tmp/out/$p" "$mandir/$p"
	echo "updated docs/man/$p"
done
[ -n "$changed" ] || echo "man-errors: every page already agrees with docs/errors.md"
