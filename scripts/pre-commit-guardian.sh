#!/bin/sh
# The pre-commit hook (.pre-commit-hooks.yaml): audits the commits being pushed against where they
# start. pre-commit gives the pushed range in PRE_COMMIT_FROM_REF and PRE_COMMIT_TO_REF; a new
# branch (no FROM_REF) is compared with its merge base with the remote's default branch. Guardian
# reads committed trees: run it at pre-push (or `pre-commit run --hook-stage manual`), not pre-commit.
set -eu
to="${PRE_COMMIT_TO_REF:-HEAD}"
base="${PRE_COMMIT_FROM_REF:-}"
case "$base" in
  "" | 0000000000000000000000000000000000000000)
    upstream="$(git rev-parse --abbrev-ref origin/HEAD 2>/dev/null || echo origin/main)"
    base="$(git merge-base "$to" "$upstream" 2>/dev/null || git rev-parse "$to~1")"
    ;;
esac
exec "${GUARDIAN:-guardian}" audit . --rev "$to" --baseline "$base" "$@"
