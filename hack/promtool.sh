#!/usr/bin/env bash
# Builds promtool from the Go module proxy (Prometheus' Go module carries it; its versions are v0.<3.x
# release>), caches it under bin/promtool/<version>/, and prints the binary's path. The alert rules'
# tests run it (`promtool test rules`). A no-op when the binary is present.
set -euo pipefail

PROMTOOL_VERSION="${PROMTOOL_VERSION:-0.316.0}"
# shellcheck source=hack/cached-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/cached-tool.sh"
cached_tool promtool "${PROMTOOL_VERSION}"
echo "building promtool v${PROMTOOL_VERSION} (first run only)" >&2
# go install with a version builds outside this module, so Prometheus' dependencies never enter go.mod.
GOBIN="${DEST}/tmp" GOFLAGS="-mod=mod" CGO_ENABLED=0 \
  go install -trimpath -ldflags="-s -w" "github.com/prometheus/prometheus/cmd/promtool@v${PROMTOOL_VERSION}" >&2
mv "${DEST}/tmp/promtool" "${DEST}/promtool"
rmdir "${DEST}/tmp"
echo "${DEST}/promtool"
