package batching

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestSize(t *testing.T) {
	tests := map[string]struct {
		limits []int32
		want   int32
	}{
		"no limits":              {nil, 0},
		"all zero":               {[]int32{0, 0, 0}, 0},
		"one limit":              {[]int32{0, 7, 0}, 7},
		"smallest wins":          {[]int32{16, 7, 9}, 7},
		"negative ignored":       {[]int32{-1, 5}, 5},
		"learned below spec cap": {[]int32{10, 0, 3}, 3},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(Size(tt.limits...)).To(Equal(tt.want))
		})
	}
}
