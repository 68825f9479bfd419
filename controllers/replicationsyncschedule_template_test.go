package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestSameDayLater(t *testing.T) {
	tests := map[string]struct {
		from          time.Time
		years, months int
		want          time.Time
	}{
		"next month":                        {from: time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC), months: 1, want: time.Date(2026, 6, 4, 10, 30, 0, 0, time.UTC)},
		"31st: the next month with 31 days": {from: time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC), months: 1, want: time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC)},
		"next year":                         {from: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC), years: 1, want: time.Date(2027, 5, 4, 10, 0, 0, 0, time.UTC)},
		"29 February: next leap year":       {from: time.Date(2028, 2, 29, 10, 0, 0, 0, time.UTC), years: 1, want: time.Date(2032, 2, 29, 10, 0, 0, 0, time.UTC)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(sameDayLater(tc.from, tc.years, tc.months)).To(BeTemporally("==", tc.want))
		})
	}
}
