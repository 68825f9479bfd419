package controllers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
)

// eventNoteMaxBytes is the API server's limit on an event's note (events.k8s.io/v1): it refuses a longer
// one, and the event is lost. A Failed run naming its groups' errors, or a fault a provider worded at
// length, would be.
const eventNoteMaxBytes = 1024

// BoundedRecorder returns r cutting every event's note to what the API server accepts.
func BoundedRecorder(r events.EventRecorder) events.EventRecorder { return boundedRecorder{r} }

type boundedRecorder struct{ events.EventRecorder }

// Eventf records the event with its note cut to eventNoteMaxBytes.
func (b boundedRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	b.EventRecorder.Eventf(regarding, related, eventtype, reason, action, "%s", cutMessage(fmt.Sprintf(note, args...), eventNoteMaxBytes, truncatedMarker))
}
