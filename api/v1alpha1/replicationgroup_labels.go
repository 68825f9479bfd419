package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxLabelValue is the longest label value Kubernetes accepts.
const maxLabelValue = 63

// LabelValue returns a label-safe form of s: s itself when it is a valid label value, otherwise its
// characters outside [A-Za-z0-9._-] replaced by '_', trimmed to start and end alphanumerically, and
// shortened with a hash suffix when too long. Different inputs that collide after the replacement keep
// distinct values because any changed input gets the hash suffix. The discovery writes labels with it
// and selectors over ReplicationGroups (the provider label included) must use it too.
func LabelValue(s string) string {
	if isLabelValue(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 128 && (isAlnum(byte(r)) || r == '-' || r == '_' || r == '.'):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.TrimFunc(b.String(), func(r rune) bool { return r < 128 && !isAlnum(byte(r)) })
	sum := sha256.Sum256([]byte(s))
	suffix := hex.EncodeToString(sum[:])[:10]
	if keep := maxLabelValue - len(suffix) - 1; len(out) > keep {
		out = strings.TrimRightFunc(out[:keep], func(r rune) bool { return !isAlnum(byte(r)) })
	}
	if out == "" {
		return suffix
	}
	return out + "-" + suffix
}

func isLabelValue(s string) bool {
	if len(s) > maxLabelValue {
		return false
	}
	if s == "" {
		return true
	}
	if !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
