#!/usr/bin/env bash
# Renders a kustomization of config/ (config/default, config/namespaced, ...) with the manager image set
# to IMG, and prints the manifests: `make deploy` pipes them into kubectl apply. An overlay in a
# temporary directory points at the kustomization and replaces the image config/manager sets, so the
# work tree is never modified.
#   hack/kustomize-image.sh config/default registry.example.com/vasa-sync-operator:0.1.0
# IMG must name a tag (repo:tag) or a digest (repo@sha256:...). KUBECTL selects the kubectl binary.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KUBECTL="${KUBECTL:-kubectl}"

if [[ $# -ne 2 ]]; then
  echo "usage: $0 <kustomization directory> <image>" >&2
  exit 2
fi
DIR="$(cd "$1" && pwd -P)"
IMG="$2"

# The image name config/manager gives the manager container, which the overlay replaces.
BASE_NAME="$(sed -n 's/^ *newName: *//p' "${ROOT}/config/manager/kustomization.yaml")"
if [[ -z "${BASE_NAME}" ]]; then
  echo "config/manager/kustomization.yaml sets no image newName" >&2
  exit 1
fi

if [[ "${IMG}" == *@* ]]; then
  ref="newName: \"${IMG%%@*}\"
  digest: \"${IMG#*@}\""
elif [[ "${IMG##*/}" == *:* ]]; then
  ref="newName: \"${IMG%:*}\"
  newTag: \"${IMG##*:}\""
else
  echo "IMG=${IMG} names no tag: give repository:tag (e.g. ${IMG}:0.1.0) or repository@digest" >&2
  exit 1
fi

WORK="$(cd "$(mktemp -d)" && pwd -P)"
trap 'rm -rf "${WORK}"' EXIT
# kustomize takes a base by relative path only: up to / from WORK, then down to DIR (both physical
# paths; no GNU realpath, so that it runs on macOS too).
up="$(printf '%s' "${WORK}" | tr -cd / | sed 's#/#../#g')"
BASE="${up}${DIR#/}"
cat >"${WORK}/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ${BASE}
images:
- name: "${BASE_NAME}"
  ${ref}
YAML
"${KUBECTL}" kustomize "${WORK}"
