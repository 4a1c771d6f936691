#!/usr/bin/env bash
# `make wheelhouse`: every dependency of the project except torch, as wheels in one folder, for a given Python version
# and platform, so that an air-gapped GPU node installs with no network (README, "Air-gapped nodes").
#
#   PY=.venv/bin/python LOCK=requirements.lock OUT=wheelhouse PYVER=3.11 PLATFORMS="manylinux_2_28_x86_64 ..." \
#     EXTRA="vllm==0.31.0" bash launch/wheelhouse.sh
#
# 1. each pinned line of $LOCK (torch, nvidia-*, triton excluded: torch comes from its own index for the node's CUDA)
#    as a binary wheel for $PYVER / $PLATFORMS; a package published only as an sdist is built into a wheel here (pure
#    Python: py3-none-any, installable anywhere);
# 2. $EXTRA (e.g. the gpu extra's vllm) with its dependencies, then torch's own wheels removed again;
# 3. the project itself as a wheel; $OUT/requirements.txt lists what to install.
set -euo pipefail
PY=${PY:-.venv/bin/python}
LOCK=${LOCK:-requirements.lock}
OUT=${OUT:-wheelhouse}
PYVER=${PYVER:-3.11}
PLATFORMS=${PLATFORMS:-manylinux_2_28_x86_64 manylinux2014_x86_64 manylinux_2_17_x86_64 linux_x86_64}
EXTRA=${EXTRA:-}
TORCH_LIKE='^(torch|nvidia-[a-z0-9_-]+|triton)(==|$)'

mkdir -p "$OUT"
platform_args=(--only-binary=:all: --python-version "$PYVER" --implementation cp)
for p in $PLATFORMS; do platform_args+=(--platform "$p"); done

grep -v -E '^\s*(#|$)' "$LOCK" | grep -v -i -E "$TORCH_LIKE" > "$OUT/requirements.txt"
n=0
built=()
while read -r req; do
  n=$((n + 1))
  if ! "$PY" -m pip download -q --no-deps "${platform_args[@]}" -d "$OUT" "$req" 2>/dev/null; then
    # no wheel for that platform: build one from the sdist (pure-Python packages give py3-none-any)
    "$PY" -m pip wheel -q --no-deps -w "$OUT" "$req"
    built+=("$req")
  fi
done < "$OUT/requirements.txt"
echo "wheelhouse: $n pinned requirements of $LOCK for Python $PYVER ($PLATFORMS)"
[ ${#built[@]} -eq 0 ] || echo "wheelhouse: built here from sdists: ${built[*]}"

if [ -n "$EXTRA" ]; then
  # shellcheck disable=SC2086
  "$PY" -m pip download -q "${platform_args[@]}" -d "$OUT" $EXTRA
  for spec in $EXTRA; do echo "$spec" >> "$OUT/requirements.txt"; done
  rm -f "$OUT"/torch-*.whl "$OUT"/nvidia_*.whl "$OUT"/triton-*.whl  # torch comes from its own index
  echo "wheelhouse: added $EXTRA with its dependencies (torch's own wheels left out)"
fi

"$PY" -m pip wheel -q --no-deps -w "$OUT" .
echo "small-reasoners" >> "$OUT/requirements.txt"
echo "wheelhouse: $(ls "$OUT"/*.whl | wc -l) wheels in $OUT; on the node (torch installed first, from its own wheel):"
echo "  python -m pip install --no-index --find-links $OUT -r $OUT/requirements.txt"
