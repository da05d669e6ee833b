#!/usr/bin/env bash
# Capture sigcy's results bit for bit at every dispatch level, one process per level, to
# compare a refactor's build against the build before it (refcheck.py compare OLD NEW).
#   run_all.sh OUTDIR  ->  OUTDIR/baseline.npz OUTDIR/avx2.npz OUTDIR/avx512.npz
# PYTHON picks the interpreter (default: python on PATH); LEVELS the levels (default all
# three; leave out those the CPU lacks).  OMP_NUM_THREADS is unset: refcheck.py runs 1 and 2
# threads itself (threadpoolctl).  About 1 minute and 1.3 GB for the three levels.
set -euo pipefail
if [ $# -ne 1 ]; then echo "usage: $0 OUTDIR" >&2; exit 2; fi
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PYTHON:-python}
cd "$(mktemp -d)"     # never inside a sigcy source tree (it would shadow the installed build)
unset OMP_NUM_THREADS
echo "python: $(command -v "$PY")"
for level in ${LEVELS:-baseline avx2 avx512}; do
    SIGCY_DISPATCH=$level "$PY" "$HERE/refcheck.py" capture "$OUT"
    test -f "$OUT/$level.npz" || { echo "run_all: $OUT/$level.npz was not written" >&2; exit 1; }
done
ls -l "$OUT"
