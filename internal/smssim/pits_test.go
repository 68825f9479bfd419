package smssim

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestPiTStoreKeepsCreationOrderAcrossGroups(t *testing.T) {
	g := NewWithT(t)
	a, b := GroupID{FaultDomainID: "fd", DeviceGroupID: "a"}, GroupID{FaultDomainID: "fd", DeviceGroupID: "b"}
	var s pitStore
	for _, r := range []PiTRecord{
		{ProviderName: "p", Group: a, PitName: "1"},
		{ProviderName: "p", Group: b, PitName: "2"},
		{ProviderName: "q", Group: a, PitName: "3"},
		{ProviderName: "p", Group: a, PitName: "4"},
	} {
		s.add(r)
	}
	names := func(rs []PiTRecord) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.PitName)
		}
		return out
	}
	g.Expect(names(s.all())).To(Equal([]string{"1", "2", "3", "4"}))
	g.Expect(names(s.of("p", a))).To(Equal([]string{"1", "4"}))
	g.Expect(s.groupsOf("p")).To(ConsistOf(a, b))

	g.Expect(s.deleteOf("p", a, func(r PiTRecord) bool { return r.PitName == "1" })).To(Equal(1))
	g.Expect(s.deleteOf("p", b, func(PiTRecord) bool { return true })).To(Equal(1))
	g.Expect(names(s.all())).To(Equal([]string{"3", "4"}))
	g.Expect(s.groupsOf("p")).To(ConsistOf(a), "a group without PiTs is forgotten")
}
