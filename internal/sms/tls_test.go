package sms_test

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

func TestParseThumbprint(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	colons := strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
	cases := map[string]struct {
		in string
		ok bool
	}{
		"prefixed":         {"SHA256:" + colons, true},
		"lowercase prefix": {"sha256:" + colons, true},
		"colons":           {colons, true},
		"bare hex":         {hex, true},
		"too short":        {"SHA256:AB:CD", false},
		"sha1 length":      {strings.Repeat("ab", 20), false},
		"not hex":          {strings.Repeat("zz", 32), false},
		"empty":            {"", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			b, err := sms.ParseThumbprint(tc.in)
			if !tc.ok {
				g.Expect(err).To(HaveOccurred())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(b).To(HaveLen(32))
			g.Expect(b[0]).To(Equal(byte(0xab)))
		})
	}
}

func TestJSONPath(t *testing.T) {
	g := NewWithT(t)
	g.Expect(sms.JSONPath("8.0.3.0", vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vasaprovider-7"}, "SyncReplicationGroup_Task")).
		To(Equal("/sdk/vim25/8.0.3.0/sms/VasaProvider/vasaprovider-7/SyncReplicationGroup_Task"))
}
