// Package gitops tests the Argo CD and Flux customizations in config/gitops the way those tools run them.
package gitops
