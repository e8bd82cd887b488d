#!/bin/bash
# smoke.sh - build kvm-smoke.c (static) and run it inside the TCG VM; exits with its status.
set -eu
here=$(cd "$(dirname "$0")" && pwd -P)
out=$(mktemp -d /tmp/gmem-vm-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT
"$here/setup.sh"
${CC:-gcc} -std=c11 -O2 -Wall -Wextra -static -o "$out/kvm-smoke" "$here/kvm-smoke.c"
set +e
"$here/run-in-vm.sh" "$out" -- ./kvm-smoke
exit $?
