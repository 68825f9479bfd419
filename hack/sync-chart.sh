#!/usr/bin/env bash
# Copies the generated and shared manifests the Helm chart reuses from config/ into charts/vasa-sync-operator:
# the CRDs (crds/), the manager ClusterRole's rules (files/role.yaml), the rules of the users' viewer and
# editor ClusterRoles (files/user_*_role.yaml) and the alert rules (files/prometheus-rules.yaml). Run it
# after `make manifests`; test/install fails when the copies differ.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHART="${ROOT}/charts/vasa-sync-operator"

if [[ ! -f "${ROOT}/config/rbac/role.yaml" ]]; then
  echo "config/rbac/role.yaml is missing: run 'make manifests' first" >&2
  exit 1
fi

mkdir -p "${CHART}/crds" "${CHART}/files"
rm -f "${CHART}"/crds/*.yaml
cp "${ROOT}"/config/crd/bases/*.yaml "${CHART}/crds/"
cp "${ROOT}/config/rbac/role.yaml" "${CHART}/files/role.yaml"
cp "${ROOT}/config/rbac/user_viewer_role.yaml" "${CHART}/files/user_viewer_role.yaml"
cp "${ROOT}/config/rbac/user_editor_role.yaml" "${CHART}/files/user_editor_role.yaml"
cp "${ROOT}/config/prometheus/rules.yaml" "${CHART}/files/prometheus-rules.yaml"
