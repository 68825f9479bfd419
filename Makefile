# vasa-sync-operator build, test and demo entry points. Every tool is installed into bin/ from the Go module proxy.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# VERSION is the release: the chart's appVersion and the image tag config/manager sets (test/install keeps
# the three equal). IMG is the manager image docker-build and docker-push make and deploy runs.
VERSION ?= 0.1.0
IMG ?= vasa-sync-operator:$(VERSION)
LOCALBIN ?= $(CURDIR)/bin
export PATH := $(LOCALBIN):$(PATH)
export GOFLAGS ?= -buildvcs=false

CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM_VERSION ?= 3.22.0
PROMTOOL_VERSION ?= 0.316.0
CRD_REF_DOCS_VERSION ?= v0.3.0
CRD_REF_DOCS ?= $(LOCALBIN)/crd-ref-docs-$(CRD_REF_DOCS_VERSION)

GO_TEST_FLAGS ?= -race -count=1 -timeout 30m
BENCH_FLAGS ?= -run '^$$' -bench . -benchmem -count 5
# BENCH selects the end-to-end benchmarks of test/bench: Sweep (default), Goals, Goals/<row>.
BENCH ?= Sweep
BENCH_E2E_FLAGS ?= -run '^$$' -bench '$(BENCH)' -benchtime=1x -count=1 -timeout 180m

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	hack/sync-chart.sh

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: api-docs
api-docs: $(CRD_REF_DOCS) ## Generate docs/api-reference.md from the API types.
	$(CRD_REF_DOCS) --source-path=./api --config=hack/api-docs/config.yaml --renderer=markdown --output-path=docs/api-reference.md >/dev/null
	@# The renderer describes every field named metadata as an ObjectMeta; a template's holds labels and annotations only.
	sed -i 's/^\(| `metadata` _\[TemplateMetadata\](#templatemetadata)_ | \)Refer to Kubernetes API documentation for fields of `metadata`\. |/\1labels and annotations copied to each ReplicationSync (no other metadata field). |/' docs/api-reference.md

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify-generated
verify-generated: generate manifests api-docs ## Fail when generated files are not committed.
	@git diff --exit-code -- api config/crd config/rbac charts/vasa-sync-operator/crds charts/vasa-sync-operator/files docs/api-reference.md || { echo "generated files are out of date: run 'make generate manifests api-docs' and commit"; exit 1; }

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver, etcd and kubectl for tests (cached in bin/k8s).
	@hack/envtest-assets.sh >/dev/null

.PHONY: helm
helm: ## Build helm from the Go module proxy (cached in bin/helm).
	@HELM_VERSION=$(HELM_VERSION) hack/helm.sh >/dev/null

.PHONY: promtool
promtool: ## Build promtool from the Go module proxy (cached in bin/promtool), for the alert rules' tests.
	@PROMTOOL_VERSION=$(PROMTOOL_VERSION) hack/promtool.sh >/dev/null

.PHONY: test
test: generate manifests vet lint envtest-assets helm promtool ## Run the whole suite (vet, lint, unit, envtest, e2e) with the race detector.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" PROMTOOL="$$(PROMTOOL_VERSION=$(PROMTOOL_VERSION) hack/promtool.sh)" go test $(GO_TEST_FLAGS) ./...

.PHONY: demo
demo: manifests build plugin envtest-assets ## Run a sync end to end: local control plane, simulator over HTTPS, the manager.
	go run ./hack/demo --manager bin/manager --plugin bin/kubectl-vasa

.PHONY: bench
bench: envtest-assets ## Run the benchmarks: the packages' own, then the end-to-end sweep (test/bench).
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go test $(BENCH_FLAGS) $$(go list ./... | grep -v '/test/bench$$')
	$(MAKE) bench-e2e

.PHONY: bench-e2e
bench-e2e: envtest-assets ## Run only the end-to-end benchmarks; BENCH=Goals runs issue 10's goals rows.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go test $(BENCH_E2E_FLAGS) ./test/bench

##@ Build

.PHONY: build
build: generate ## Build the manager binary.
	go build -trimpath -o bin/manager .

.PHONY: plugin
plugin: ## Build the kubectl plugin (kubectl vasa) into bin/kubectl-vasa.
	go build -trimpath -o bin/kubectl-vasa ./cmd/kubectl-vasa

.PHONY: run
run: manifests generate ## Run the manager against the current kubeconfig.
	go run . --leader-elect=false

.PHONY: docker-build
docker-build: ## Build the manager image IMG (needs a Docker engine).
	docker build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the manager image IMG to its registry.
	docker push $(IMG)

KUBECTL ?= kubectl
# DEPLOY_CONFIG is the kustomization deploy applies: config/default, or config/namespaced.
DEPLOY_CONFIG ?= config/default

.PHONY: deploy
deploy: manifests ## Apply DEPLOY_CONFIG (config/default) with the manager image IMG to the current kubeconfig.
	KUBECTL=$(KUBECTL) hack/kustomize-image.sh $(DEPLOY_CONFIG) $(IMG) | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Delete what deploy applied (CRDs and their objects included).
	KUBECTL=$(KUBECTL) hack/kustomize-image.sh $(DEPLOY_CONFIG) $(IMG) | $(KUBECTL) delete --ignore-not-found -f -

##@ Tools

$(CONTROLLER_GEN):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)

$(CRD_REF_DOCS):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/elastic/crd-ref-docs@$(CRD_REF_DOCS_VERSION)
	mv $(LOCALBIN)/crd-ref-docs $(CRD_REF_DOCS)

$(GOLANGCI_LINT):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $(GOLANGCI_LINT)
