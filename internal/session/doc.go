// Package session keeps one cached SMS session per VasaProvider, shared by every reconciler of a manager.
package session
