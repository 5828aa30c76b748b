#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# ctest lint.shellcheck: every shell script of the source tree must pass `shellcheck -S warning
# -x`. A shell script is a *.sh file or any file whose first line is a sh/bash/dash/ash shebang
# (.ci/run, the OpenWrt init and hotplug scripts). The list comes from `git ls-files` in the
# source dir, or from find when that is not a git checkout (build dirs and .git left out).
# The check runs from the source dir, so `source=path/from/top` directives resolve.
# Exit: 0 no finding, 1 findings (or shellcheck missing under CI=true), 77 shellcheck missing.
set -euo pipefail
src=${FA_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"

if ! command -v shellcheck >/dev/null 2>&1; then
    if [ "${CI:-}" = "true" ]; then
        echo "lint.shellcheck: FAIL: shellcheck is missing (CI=true: nothing may skip)" >&2
        exit 1
    fi
    echo "lint.shellcheck: SKIP: shellcheck is missing (tests/install-deps.sh installs it)" >&2
    exit 77
fi

# Candidate files (NUL-separated), from git when this is a checkout (.git is a file in a worktree).
candidates() {
    if [ -e .git ] && command -v git >/dev/null 2>&1 && git rev-parse --git-dir >/dev/null 2>&1; then
        echo "lint.shellcheck: files from git ls-files in $src" >&2
        git ls-files -z
    else
        echo "lint.shellcheck: no git checkout, files from find in $src" >&2
        local prune=(-name .git)
        [ -n "${FA_BUILD_DIR:-}" ] && prune+=(-o -path "$(realpath "$FA_BUILD_DIR")")
        find "$src" \( "${prune[@]}" -o -path "$src/build*" \) -prune -o -type f -print0 |
            sed -z "s|^$src/||"
    fi
}

files=()
while IFS= read -r -d '' f; do
    [ -f "$f" ] || continue
    case $f in
        *.sh) files+=("$f"); continue ;;
    esac
    first=$(head -n 1 -- "$f" 2>/dev/null | tr -d '\0') || true
    if [[ $first =~ ^\#!.*[/\ ](ba|da|a)?sh([[:space:]]|$) ]]; then
        files+=("$f")
    fi
done < <(candidates)

if [ "${#files[@]}" -eq 0 ]; then
    echo "lint.shellcheck: FAIL: no shell scripts found in $src" >&2
    exit 1
fi
echo "lint.shellcheck: checking ${#files[@]} scripts with $(shellcheck --version | sed -n 's/^version: //p')" >&2
if shellcheck -S warning -x -- "${files[@]}"; then
    echo "lint.shellcheck: ok (${#files[@]} scripts, no findings at warning level or above)"
else
    echo "lint.shellcheck: FAIL: findings above (shellcheck -S warning -x, run from $src)" >&2
    exit 1
fi
