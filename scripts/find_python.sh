#!/usr/bin/env bash
# Print the path of a Python >= 3.12 (the version in .python-version first), or fail with a message.
set -u
want=$(cat "$(dirname "$0")/../.python-version" 2>/dev/null || echo 3.12)
candidates=("python$want")
if command -v pyenv >/dev/null 2>&1; then
  for d in "$(pyenv root)"/versions/"$want"*; do candidates+=("$d/bin/python"); done
fi
candidates+=(python3.13 python3)
for c in "${candidates[@]}"; do
  p=$(command -v "$c" 2>/dev/null) || continue
  if "$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    echo "$p"; exit 0
  fi
done
echo "error: no Python >= 3.12 found (tried: ${candidates[*]}). Install Python $want (e.g. 'pyenv install $want') and re-run." >&2
exit 1
