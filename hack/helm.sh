#!/usr/bin/env bash
# Builds the helm CLI from the Go module proxy in a throwaway module (so helm's dependencies never enter
# the project's go.mod), caches it under bin/helm/<version>/, and prints the binary's path.
# A no-op when the binary is present.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-3.22.0}"
# shellcheck source=hack/cached-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/cached-tool.sh"
cached_tool helm "${HELM_VERSION}"
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
export GOFLAGS="-mod=mod" CGO_ENABLED=0

echo "building helm v${HELM_VERSION} (first run only)" >&2
(
  cd "${WORK}"
  go mod init build-helm >/dev/null 2>&1
  go get "helm.sh/helm/v3@v${HELM_VERSION}" >&2
  # Stamp the versions as helm's release build does: its own (`helm version`) and the Kubernetes version
  # of the client-go it was built with, which `helm template` and `helm lint` assume for the cluster
  # (the unstamped default, v1.20, fails charts that require a newer kubeVersion).
  k8s_minor="$(go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)"
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=v${HELM_VERSION}"
  ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${k8s_minor}"
  done
  go build -trimpath -ldflags="${ldflags}" -o "${DEST}/helm.tmp" helm.sh/helm/v3/cmd/helm >&2
)
mv "${DEST}/helm.tmp" "${DEST}/helm"
echo "${DEST}/helm"
