package controllers

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

// TestLongEventNotesReachTheAPIServer: an event whose note is longer than the API server takes (a run
// failed with ten groups' errors) is recorded cut, with a marker, instead of refused and lost.
func TestLongEventNotesReachTheAPIServer(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := newNamespace(t, g, k8sClient, "events-")
	cs, err := kubernetes.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	broadcaster.StartRecordingToSink(ctx.Done())
	defer broadcaster.Shutdown()
	recorder := BoundedRecorder(broadcaster.NewRecorder(testenv.Scheme, "events-test"))

	regarding := &corev1.ConfigMap{}
	regarding.Namespace, regarding.Name = ns.Name, "run"
	g.Expect(k8sClient.Create(ctx, regarding)).To(Succeed())
	recorder.Eventf(regarding, nil, corev1.EventTypeWarning, "Failed", "Sync", "Failed groups: %s", strings.Repeat("é", 1000))

	list := &eventsv1.EventList{}
	g.Eventually(func() []eventsv1.Event {
		g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns.Name))).To(Succeed())
		return list.Items
	}).Should(HaveLen(1))
	note := list.Items[0].Note
	g.Expect(len(note)).To(BeNumerically("<=", eventNoteMaxBytes))
	g.Expect(note).To(HavePrefix("Failed groups: é"))
	g.Expect(note).To(HaveSuffix(truncatedMarker))
}
