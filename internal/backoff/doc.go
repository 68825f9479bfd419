// Package backoff computes exponential retry delays with jitter as a pure function of (attempts, now).
package backoff
