// Command kubectl-vasa is the kubectl plugin of the vasa-sync-operator ("kubectl vasa"): it lists discovered
// replication groups, starts ReplicationSyncs and checks VasaProviders, talking only to the Kubernetes API.
package main
