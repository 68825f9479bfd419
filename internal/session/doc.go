// Package session keeps one cached SMS session per VasaProvider, the provider's in-flight task
// accounting and the batch size it taught us.
package session
