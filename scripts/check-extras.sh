#!/usr/bin/env bash
# Resolve every extra, and every combination README.md, docs/ and the Makefile install, without
# installing anything (pip's resolver against the package index). Fails on a combination that
# does not resolve, or that makes pip backtrack (a bound is missing: issue 11).
# Usage: scripts/check-extras.sh [PYTHON]   (default: .venv/bin/python; needs the index)
set -u
PY=${1:-.venv/bin/python}
COMBOS=("" sklearn s3 postgres data mlflow redis llm embeddings boosting all dev
        "sklearn,data,mlflow" "all,dev" "all,boosting,embeddings,dev")
out=$(mktemp -d)
status=0
for combo in "${COMBOS[@]}"; do
    spec="."; [ -n "$combo" ] && spec=".[$combo]"
    log="$out/${combo:-core}.log"
    if ! "$PY" -m pip install --dry-run --ignore-installed "$spec" >"$log" 2>&1; then
        echo "FAIL  $spec does not resolve (see $log)"; status=1
    elif grep -qi "looking at multiple versions" "$log"; then
        echo "FAIL  $spec resolves only by backtracking:"; grep -i "looking at multiple" "$log" | head -3
        status=1
    else
        echo "ok    $spec"
    fi
done
exit $status
