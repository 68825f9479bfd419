package v1alpha1

// SyncSpec returns the spec of a run of this template with the given pitName: every field of the
// template, so that a scheduled run and a manual one (kubectl vasa sync --from-schedule) are alike.
func (t ReplicationSyncTemplateSpec) SyncSpec(pitName string) ReplicationSyncSpec {
	return ReplicationSyncSpec{
		ProviderRef:             t.ProviderRef,
		GroupIDs:                t.GroupIDs,
		GroupSelector:           t.GroupSelector,
		PitName:                 pitName,
		BackoffLimit:            t.BackoffLimit,
		ActiveDeadlineSeconds:   t.ActiveDeadlineSeconds,
		ProgressDeadlineSeconds: t.ProgressDeadlineSeconds,
		TTLSecondsAfterFinished: t.TTLSecondsAfterFinished,
		MaxBatchSize:            t.MaxBatchSize,
	}
}
