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

func TestChunks(t *testing.T) {
	g := NewWithT(t)
	items := make([]int, 40)
	for i := range items {
		items[i] = i
	}
	chunks := Chunks(items, 7)
	var sizes []int
	var flat []int
	for _, c := range chunks {
		sizes = append(sizes, len(c))
		flat = append(flat, c...)
	}
	g.Expect(sizes).To(Equal([]int{7, 7, 7, 7, 7, 5}))
	g.Expect(flat).To(Equal(items), "order is kept and nothing is lost")

	g.Expect(Chunks(items, 0)).To(HaveLen(1))
	g.Expect(Chunks(items, 100)).To(HaveLen(1))
	g.Expect(Chunks([]int{}, 3)).To(BeEmpty())
	g.Expect(Chunks(items, 1)).To(HaveLen(40))

	// Appending to a chunk must not overwrite the next one.
	c := Chunks([]int{1, 2, 3, 4}, 2)
	_ = append(c[0], 99)
	g.Expect(c[1]).To(Equal([]int{3, 4}))
}
