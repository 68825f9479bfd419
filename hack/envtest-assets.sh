#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver, etcd, and kubectl) from the Go module proxy,
# caches them under bin/k8s/<version>/, and prints that directory. A no-op when they are present.
# Download sites for release binaries are not needed: everything comes from the module proxy.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${ROOT}/bin/k8s/${K8S_VERSION}-etcd${ETCD_VERSION}"

if [[ -x "${DEST}/kube-apiserver" && -x "${DEST}/etcd" && -x "${DEST}/kubectl" ]]; then
  echo "${DEST}"
  exit 0
fi

mkdir -p "${DEST}"
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
export GOFLAGS="-mod=mod" CGO_ENABLED=0

# etcd: its server module is a main package.
if [[ ! -x "${DEST}/etcd" ]]; then
  echo "building etcd v${ETCD_VERSION} (first run only)" >&2
  mkdir -p "${WORK}/etcd"
  (
    cd "${WORK}/etcd"
    go mod init envtest-etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" >&2
    go build -trimpath -ldflags='-s -w' -o "${DEST}/etcd" go.etcd.io/etcd/server/v3 >&2
  )
fi

# kube-apiserver and kubectl: k8s.io/kubernetes points its staging modules at ./staging, which a
# module download does not contain; replace each of them with its published v0 release.
if [[ ! -x "${DEST}/kube-apiserver" || ! -x "${DEST}/kubectl" ]]; then
  echo "building kube-apiserver and kubectl v${K8S_VERSION} (first run only, several minutes)" >&2
  mkdir -p "${WORK}/k8s"
  (
    cd "${WORK}/k8s"
    go mod init envtest-k8s >/dev/null 2>&1
    gomod="$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    staging_version="v0.${K8S_VERSION#1.}"
    for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[^[:space:]]*\) => ./staging/.*#\1#p' "${gomod}"); do
      go mod edit -replace "${m}=${m}@${staging_version}"
    done
    go mod edit -require "k8s.io/kubernetes@v${K8S_VERSION}"
    printf 'package tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kubectl"\n)\n' > tools.go
    go mod tidy >&2
    # Stamp the version as the release build does; the API server derives its compatibility version from it.
    minor="${K8S_VERSION#1.}"; minor="${minor%%.*}"
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X ${pkg}.gitVersion=v${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
      ldflags+=" -X ${pkg}.gitTreeState=clean"
    done
    go build -trimpath -ldflags="${ldflags}" -o "${DEST}/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
    go build -trimpath -ldflags="${ldflags}" -o "${DEST}/kubectl" k8s.io/kubernetes/cmd/kubectl >&2
  )
fi

echo "${DEST}"
