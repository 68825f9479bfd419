// Package testenv starts a real control plane (envtest: kube-apiserver and etcd) with the project's CRDs for tests.
package testenv
