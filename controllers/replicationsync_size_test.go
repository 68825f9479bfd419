package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// TestLargestRunStatusFits: the largest run admission lets in (1000 groups whose ids use the whole
// MaxGroupIDBytes, a pitName of 255 bytes), every group synced or failed with long provider messages,
// can still write its status, in ASCII and in a script of 3-byte characters. The API server's etcd
// refuses an object over 1.5 MiB; a run whose status outgrew it could never record its outcome.
func TestLargestRunStatusFits(t *testing.T) {
	for _, fill := range []string{"x", "日"} {
		t.Run(fill, func(t *testing.T) { largestRunStatusFits(t, fill) })
	}
}

func largestRunStatusFits(t *testing.T, fill string) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, g, k8sClient, "size-")

	const groups = 1000
	idLen := replicationv1alpha1.MaxGroupIDBytes / groups / 2 // bytes
	pad := func(prefix string, i int) string {
		s := fmt.Sprintf("%s-%04d-", prefix, i)
		return s + strings.Repeat(fill, (idLen-len(s))/len(fill))
	}
	rs := &replicationv1alpha1.ReplicationSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "largest"},
		Spec: replicationv1alpha1.ReplicationSyncSpec{
			ProviderRef: replicationv1alpha1.LocalObjectReference{Name: "array-a"},
			PitName:     strings.Repeat(fill, 255/len(fill)),
		},
	}
	for i := range groups {
		rs.Spec.GroupIDs = append(rs.Spec.GroupIDs, replicationv1alpha1.ReplicationGroupID{
			FaultDomainID: replicationv1alpha1.FaultDomainID{ID: pad("fd", i)},
			DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: pad("dg", i)},
		})
	}
	g.Expect(k8sClient.Create(ctx, rs)).To(Succeed())

	// The largest status a group can have: synced (its PiT's name, id and time recorded) with the long
	// warnings of a verbose array; half the groups fail afterwards for a run that ends Failed.
	run := &syncRun{rs: rs, now: time.Now()}
	initSyncStatus(rs)
	verbose := strings.Repeat("the array could not verify the consistency group of the point-in-time replica; ", 50)
	for i := range rs.Status.Groups {
		claim := metav1.NewMicroTime(run.now)
		gs := &rs.Status.Groups[i]
		gs.Provider, gs.Task, gs.ClaimTime, gs.Attempts = "vasaprovider-12345", fmt.Sprintf("smstask-%010d", i), &claim, 7
		run.groupSynced(i, fmt.Sprintf("pit-%060d", i), "", run.now, verbose)
		if i%2 == 1 {
			run.groupFailed(i, "SmsReplicationFault: "+verbose)
		}
	}
	markFailed(rs, replicationv1alpha1.FailedReason, failedGroupsMessage(rs))
	rs.Status.Phase = replicationv1alpha1.SyncFailed
	g.Expect(rs.Status.Groups[0].Message).To(HaveSuffix(truncatedMarker), "the warnings were long enough to be cut")
	g.Expect(rs.Status.Groups[0].PitName).To(Equal(rs.Spec.PitName))

	raw, err := json.Marshal(rs)
	g.Expect(err).NotTo(HaveOccurred())
	t.Logf("the run is %d bytes", len(raw))
	g.Expect(k8sClient.Status().Update(ctx, rs)).To(Succeed())
	got := &replicationv1alpha1.ReplicationSync{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), got)).To(Succeed())
	g.Expect(got.Status.Groups).To(HaveLen(groups))
	g.Expect(got.Status.Groups[groups-1].State).To(Equal(replicationv1alpha1.GroupFailed))
}

func TestGroupMessageShare(t *testing.T) {
	long := strings.Repeat("é", 2000) // two bytes each: cuts land on a rune boundary
	for n, want := range map[int]int{1: maxMessageBytes, 256: maxMessageBytes, 1000: groupMessagesBytes / 1000, 5000: minGroupMessageBytes} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			g := NewWithT(t)
			rs := &replicationv1alpha1.ReplicationSync{Status: replicationv1alpha1.ReplicationSyncStatus{Groups: make([]replicationv1alpha1.GroupStatus, n)}}
			got := groupMessage(rs, long)
			g.Expect(len(got)).To(BeNumerically("<=", want))
			g.Expect(len(got)).To(BeNumerically(">", want-2))
			g.Expect(got).To(HaveSuffix(truncatedMarker))
			g.Expect(groupMessage(rs, "short")).To(Equal("short"))
		})
	}
}

// TestSelectGroupsBoundsIDBytes: a selector whose groups' ids add up to more than admission allows in
// groupIds ends the run with a message instead of a status too large to write.
func TestSelectGroupsBoundsIDBytes(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, g, k8sClient, "select-size-")
	n := replicationv1alpha1.MaxGroupIDBytes/510 + 1 // ids of 255 characters each
	for i := range n {
		storeGroup(t, g, ns.Name, "array-a", fmt.Sprintf("fd-%0252d", i%4), fmt.Sprintf("dg-%0252d", i), "TARGET", "oracle")
	}

	_, err := selectGroups(ctx, k8sClient, newSelectorSync(ns.Name, "wide", "array-a", &metav1.LabelSelector{}))
	g.Expect(err).To(MatchError(errTooManyGroupsSelected))
	g.Expect(err.Error()).To(ContainSubstring(fmt.Sprintf("the ids of the %d groups it matched add up to %d bytes", n, n*510)))

	got, err := selectGroups(ctx, k8sClient, newSelectorSync(ns.Name, "narrow", "array-a", &metav1.LabelSelector{MatchLabels: map[string]string{
		replicationv1alpha1.FaultDomainLabel: replicationv1alpha1.LabelValue(fmt.Sprintf("fd-%0252d", 0)),
	}}))
	g.Expect(err).NotTo(HaveOccurred(), "a narrower selector fits")
	g.Expect(len(got)).To(BeNumerically("<", n))
}
