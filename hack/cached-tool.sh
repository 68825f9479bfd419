# Sourced by the scripts that build a tool from the Go module proxy into bin/<tool>/<version>/: sets ROOT
# and DEST, and when the binary is there already prints its path and ends the calling script.
# Usage: cached_tool <tool> <version>
cached_tool() {
  ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  DEST="${ROOT}/bin/$1/$2"
  if [[ -x "${DEST}/$1" ]]; then
    echo "${DEST}/$1"
    exit 0
  fi
  mkdir -p "${DEST}"
}
