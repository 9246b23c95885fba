#!/usr/bin/env bash
# README command 1: set up .venv if needed, then build the HTML book into
# _build/html. Warnings and notebook errors fail the build (-W -n): Jupyter
# Book 1 only warns about a failing notebook otherwise.
set -euo pipefail
source "$(dirname "$0")/env.sh"
s=$(date +%s)
# Grading (autograder/grade.py autograde) runs each notebook in a bubblewrap
# sandbox: say so when bwrap is missing (the book itself does not need it).
command -v bwrap >/dev/null 2>&1 || echo "== no bwrap (bubblewrap): \
autograder/grade.py autograde will refuse to grade; install it with apt-get install bubblewrap"
python scripts/fetch_assets.py     # MathJax, served by the site
# jupyter-cache hashes a notebook's code cells only: a change in lib/ would
# re-run nothing. Key the cache on lib/ too, by emptying it when lib/ changes.
# The figure start-up file (below) changes outputs too.
lib_hash=$(find lib book/_ext/figure_startup.py -name '*.py' -print0 | sort -z \
  | xargs -0 cat | sha256sum | cut -c1-16)
if [ "$(cat _build/.lib_hash 2>/dev/null || true)" != "$lib_hash" ]; then
  rm -rf _build/.jupyter_cache
  mkdir -p _build && echo "$lib_hash" > _build/.lib_hash
fi
# BOOK_OUT (default: the repository root) is where _build/html goes; the
# tests build into a temporary folder with it. The execution cache stays in
# ./_build/.jupyter_cache either way (_config.yml).
out=${BOOK_OUT:-.}
# Launch buttons (Binder, Colab, a JupyterHub) need the repository's URL:
# with DML_REPOSITORY_URL set, build from a copy of _config.yml that has it
# (scripts/book_config.py; README, "For instructors").
config=_config.yml
if [ -n "${DML_REPOSITORY_URL:-}" ]; then
  config=.launch_config.yml
  python scripts/book_config.py "$config"
fi
# The build's kernels start with book/_ext/figure_startup.py: sharp (2x)
# figures with a description (alt text) and legible fonts. Explorers become
# precomputed frames behind HTML controls (no kernel in a static page:
# lib/dml/widgets/_static.py).
ipy=_build/.ipython
mkdir -p $ipy/profile_default/startup
cp book/_ext/figure_startup.py $ipy/profile_default/startup/00-dml-figures.py
IPYTHONDIR="$PWD/$ipy" DML_STATIC_EXPLORERS=1 \
  jupyter-book build . -W -n --keep-going --config "$config" --path-output "$out"
echo "== book built in $(( $(date +%s) - s )) s: $out/_build/html/index.html"
