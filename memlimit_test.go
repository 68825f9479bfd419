package main

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestGoMemoryLimit(t *testing.T) {
	g := NewWithT(t)
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

	limit, ok := goMemoryLimit(env(map[string]string{containerMemoryLimitEnv: "536870912"}))
	g.Expect(ok).To(BeTrue())
	g.Expect(limit).To(Equal(int64(483183820)), "90 % of 512 MiB")

	_, ok = goMemoryLimit(env(map[string]string{containerMemoryLimitEnv: "536870912", "GOMEMLIMIT": "300MiB"}))
	g.Expect(ok).To(BeFalse(), "GOMEMLIMIT set by hand wins")
	for _, v := range []string{"", "0", "512Mi", "-1", "512"} { // 512: a limit in MiB, not bytes
		_, ok = goMemoryLimit(env(map[string]string{containerMemoryLimitEnv: v}))
		g.Expect(ok).To(BeFalse(), "%q", v)
	}
}
