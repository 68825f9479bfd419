package v1alpha1

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// ScheduleLabelValue is the value of ScheduleLabel on the runs of the schedule named scheduleName: the
// name itself, or, for a name longer than a label value may be, its start and a hash of all of it. The
// schedule controller lists a schedule's runs by this value, so a run made by hand from a schedule (kubectl
// vasa sync --from-schedule) must carry it for its success to count as the schedule's.
func ScheduleLabelValue(scheduleName string) string {
	if len(scheduleName) <= maxLabelValue {
		return scheduleName
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(scheduleName))
	hash := fmt.Sprintf("%08x", h.Sum32())
	return strings.TrimRight(scheduleName[:maxLabelValue-len(hash)-1], "-.") + "-" + hash
}
