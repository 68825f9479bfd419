package sms_test

import (
	"errors"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// TestPickProvider: a name or uid selects exactly one provider; two of one name are refused (SMS does not
// promise the order it lists them in, so "the first" could be another array tomorrow), and a name that
// matches none lists the registered ones, where a mistake of case or white space shows.
func TestPickProvider(t *testing.T) {
	a := sms.ProviderInfo{Ref: "vasaprovider-1", Name: "array-a", UID: "uid-a"}
	a2 := sms.ProviderInfo{Ref: "vasaprovider-2", Name: "array-a", UID: "uid-a2"}
	b := sms.ProviderInfo{Ref: "vasaprovider-3", Name: "array-b", UID: "uid-b"}
	var many []sms.ProviderInfo
	for i := range 12 {
		many = append(many, sms.ProviderInfo{Name: fmt.Sprintf("p%d", i), UID: fmt.Sprintf("u%d", i)})
	}
	unread := []error{errors.New("provider info of vasaprovider-9: NotFound")}
	tests := map[string]struct {
		all       []sms.ProviderInfo
		unread    []error
		name, uid string
		want      sms.ProviderInfo
		wantIs    error
		wantText  string
	}{
		"by name":                          {all: []sms.ProviderInfo{a, b}, name: "array-b", want: b},
		"by uid":                           {all: []sms.ProviderInfo{a, a2, b}, uid: "uid-a2", want: a2},
		"two of one name":                  {all: []sms.ProviderInfo{a2, b, a}, name: "array-a", wantIs: sms.ErrProviderAmbiguous, wantText: `provider with name "array-a": more than one vasa provider has that name: "array-a" (uid-a), "array-a" (uid-a2)`},
		"none, registered listed":          {all: []sms.ProviderInfo{a, b}, name: "array-a ", wantIs: sms.ErrProviderNotFound, wantText: `registered: "array-a" (uid-a), "array-b" (uid-b)`},
		"none registered at all":           {name: "array-a", wantIs: sms.ErrProviderNotFound, wantText: "registered: none"},
		"many registered, ten listed":      {all: many, uid: "u99", wantIs: sms.ErrProviderNotFound, wantText: `registered: "p0" (u0), "p1" (u1), "p10" (u10), "p11" (u11), "p2" (u2), "p3" (u3), "p4" (u4), "p5" (u5), "p6" (u6), "p7" (u7), and 2 more`},
		"none, but some could not be read": {all: []sms.ProviderInfo{b}, unread: unread, name: "array-a", wantText: "1 could not be read"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := sms.PickProvider(tc.all, tc.unread, tc.name, tc.uid)
			if tc.wantText == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(got).To(Equal(tc.want))
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantText)))
			if tc.wantIs != nil {
				g.Expect(errors.Is(err, tc.wantIs)).To(BeTrue())
			} else {
				g.Expect(errors.Is(err, sms.ErrProviderNotFound)).To(BeFalse(), "it may be one that could not be read")
			}
		})
	}
}
