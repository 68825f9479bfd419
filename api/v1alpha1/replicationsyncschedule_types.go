package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConcurrencyPolicy says what a schedule does when a run is due while an earlier one is active.
// +kubebuilder:validation:Enum=Forbid;Allow;Replace
type ConcurrencyPolicy string

const (
	// ForbidConcurrent skips the new run while one is active (default).
	ForbidConcurrent ConcurrencyPolicy = "Forbid"
	// AllowConcurrent starts the new run anyway.
	AllowConcurrent ConcurrencyPolicy = "Allow"
	// ReplaceConcurrent deletes the active run and starts the new one.
	ReplaceConcurrent ConcurrencyPolicy = "Replace"
)

// ReplicationSyncScheduleSpec stamps out ReplicationSyncs on a cron schedule, as a CronJob stamps out Jobs.
type ReplicationSyncScheduleSpec struct {
	// schedule in cron format ("0 2 * * *") or a descriptor (@hourly, @daily, @every 1h), read as a
	// CronJob reads it: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, day of week
	// 0-6 or SUN-SAT (0 is Sunday, 7 is refused), each as *, ?, a value, a range (1-5), a step (*/15,
	// 0-30/5) or a comma-separated list of these. A schedule that passes admission but never fires (e.g.
	// "0 2 31 2 *") or has a range that runs backwards (e.g. "5-1") stalls with reason InvalidSchedule.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$') || self.matches('^@every ([0-9]+(ms|s|m|h))+$') || self.matches('^[0-9*,/?A-Za-z-]+( +[0-9*,/?A-Za-z-]+){4}$')",message="schedule must be a 5-field cron expression (minute hour day-of-month month day-of-week) or a descriptor such as @hourly or @every 1h; set the zone in timeZone, not in schedule"
	// +kubebuilder:validation:XValidation:rule="!self.contains('TZ=')",message="schedule must not contain TZ= or CRON_TZ=: set the zone in spec.timeZone"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^@every ([0-9]+(ms|s|m|h))+$') || duration(self.substring(7)) >= duration('1m')",message="schedule @every must be at least 1m: runs start at most once a minute"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9*,/?A-Za-z-]+( +[0-9*,/?A-Za-z-]+){4}$') || self.split(' ').filter(f, f != '')[0].split(',').all(v, v == '' || v.matches('^([*?](-[^/]*)?|0*[1-5]?[0-9](-0*[1-5]?[0-9])?)(/0*[1-9][0-9]*)?$'))",message="schedule: minute (1st field) must be 0-59 or *, or a list, range or step of them such as 0,30 or */15"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9*,/?A-Za-z-]+( +[0-9*,/?A-Za-z-]+){4}$') || self.split(' ').filter(f, f != '')[1].split(',').all(v, v == '' || v.matches('^([*?](-[^/]*)?|0*(1?[0-9]|2[0-3])(-0*(1?[0-9]|2[0-3]))?)(/0*[1-9][0-9]*)?$'))",message="schedule: hour (2nd field) must be 0-23 or *, or a list, range or step of them such as 1,13 or 8-18/2"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9*,/?A-Za-z-]+( +[0-9*,/?A-Za-z-]+){4}$') || self.split(' ').filter(f, f != '')[2].split(',').all(v, v == '' || v.matches('^([*?](-[^/]*)?|0*([1-9]|[12][0-9]|3[01])(-0*([1-9]|[12][0-9]|3[01]))?)(/0*[1-9][0-9]*)?$'))",message="schedule: day of month (3rd field) must be 1-31, * or ?, or a list, range or step of them such as 1,15 or 1-7"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9*,/?A-Za-z-]+( +[0-9*,/?A-Za-z-]+){4}$') || self.split(' ').filter(f, f != '')[3].split(',').all(v, v == '' || v.matches('^([*?](-[^/]*)?|(0*([1-9]|1[0-2])|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))(-(0*([1-9]|1[0-2])|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)))?)(/0*[1-9][0-9]*)?$'))",message="schedule: month (4th field) must be 1-12, JAN-DEC or *, or a list, range or step of them such as 1,7 or JAN-JUN"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9*,/?A-Za-z-]+( +[0-9*,/?A-Za-z-]+){4}$') || self.split(' ').filter(f, f != '')[4].split(',').all(v, v == '' || v.matches('^([*?](-[^/]*)?|(0*[0-6]|(?i:sun|mon|tue|wed|thu|fri|sat))(-(0*[0-6]|(?i:sun|mon|tue|wed|thu|fri|sat)))?)(/0*[1-9][0-9]*)?$'))",message="schedule: day of week (5th field) must be 0-6 (0 is Sunday; 7 is not accepted), SUN-SAT, * or ?, or a list, range or step of them such as MON-FRI"
	Schedule string `json:"schedule"`

	// timeZone is the IANA time zone the schedule is read in, e.g. Europe/Berlin. Defaults to UTC.
	// Daylight saving time works as for a CronJob: on the night clocks go forward a wall-clock time
	// that does not exist (e.g. 02:30) does not run that night; on the night they go back a time that
	// occurs twice runs twice (a run in the repeated hour whose PiT name the first pass used gets the
	// zone abbreviation appended, e.g. "-CET"). Use UTC, or a time outside 02:00-03:00, to avoid both.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="!(self in ['Local', 'localtime', 'posixrules']) && !self.startsWith('posix/') && !self.startsWith('right/') && !self.contains(':') && timestamp('2000-06-15T12:00:00Z').getFullYear(self) == 2000",message="timeZone must be an IANA time zone name such as Europe/Berlin"
	TimeZone *string `json:"timeZone,omitempty"`

	// concurrencyPolicy: Forbid (default), Allow or Replace. Replace deletes the active run, but SMS has
	// no call to cancel its tasks: the array may still make its PiT, which no run then records. With runs
	// that outlast the interval, Replace records no success at all; use Forbid. Runs made by hand from
	// the schedule (sync-now, kubectl vasa sync --from-schedule) are neither waited for nor replaced, as
	// a CronJob treats Jobs made with kubectl create job --from; the array answers SyncOngoing for a
	// group both sync at once.
	// +optional
	// +kubebuilder:default=Forbid
	ConcurrencyPolicy ConcurrencyPolicy `json:"concurrencyPolicy,omitempty"`

	// startingDeadlineSeconds: a run that could not start within this many seconds of its
	// scheduled time is reported as missed and not started. Unset means no deadline. At least 10:
	// a reconcile lands a moment after the scheduled time, so a shorter deadline would miss runs (the
	// same advice as for a CronJob). At most 31536000 (a year).
	// +optional
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=31536000
	StartingDeadlineSeconds *int64 `json:"startingDeadlineSeconds,omitempty"`

	// suspend stops new runs; active ones go on. Defaults to false.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`

	// successfulHistoryLimit is how many succeeded ReplicationSyncs to keep. Defaults to 3.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	SuccessfulHistoryLimit *int32 `json:"successfulHistoryLimit,omitempty"`

	// failedHistoryLimit is how many failed ReplicationSyncs to keep. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	FailedHistoryLimit *int32 `json:"failedHistoryLimit,omitempty"`

	// template is the ReplicationSync each run creates.
	// +required
	Template ReplicationSyncTemplate `json:"template"`
}

// ReplicationSyncTemplate describes the ReplicationSync a schedule creates.
type ReplicationSyncTemplate struct {
	// metadata: labels and annotations copied to each ReplicationSync.
	// +optional
	Metadata TemplateMetadata `json:"metadata,omitempty"`

	// pitNameTemplate is a Go text/template rendered per run into the PiT name, with
	// .ScheduleName, .Namespace and .ScheduledTime (a time.Time in the schedule's zone).
	// Defaults to "{{ .ScheduleName }}-{{ .ScheduledTime.Format \"20060102-1504\" }}". Names must not
	// repeat: a template that leaves out part of the date (e.g. "1504", which repeats after a day) or
	// tells runs of one day apart too coarsely (e.g. "0304", a 12-hour clock) stalls the schedule with
	// reason InvalidTemplate, since a run whose PiT name exists creates no new PiT. A run whose name
	// another run of the schedule has (after an edit of schedule or timeZone) gets the zone abbreviation
	// appended; if that is taken too, the run is skipped and counted as missed. range, define, block and
	// template are refused; print, printf, println, html, js and urlquery refuse a result of more than
	// 1020 bytes, and printf a width or precision of more than 3 digits.
	// +optional
	// +kubebuilder:default=`{{ .ScheduleName }}-{{ .ScheduledTime.Format "20060102-1504" }}`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	PitNameTemplate string `json:"pitNameTemplate,omitempty"`

	// spec of each ReplicationSync; pitName comes from pitNameTemplate.
	// +required
	Spec ReplicationSyncTemplateSpec `json:"spec"`
}

// TemplateMetadata is the metadata a schedule copies to each ReplicationSync.
type TemplateMetadata struct {
	// labels to set.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// annotations to set.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ReplicationSyncTemplateSpec is a ReplicationSyncSpec without pitName.
// +kubebuilder:validation:XValidation:rule="has(self.groupIds) != has(self.groupSelector)",message="set exactly one of template.spec.groupIds and template.spec.groupSelector"
type ReplicationSyncTemplateSpec struct {
	// providerRef names the VasaProvider in the same namespace.
	// +required
	ProviderRef LocalObjectReference `json:"providerRef"`

	// groupIds lists the replication groups to sync, 1 to 1000 unique entries, with ids free of white
	// space around them, of control characters and of U+FFFE and U+FFFF, at most 160000 bytes (UTF-8) of
	// ids in all (see ReplicationSyncSpec). Exactly one of groupIds and groupSelector must be set.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	// +listType=atomic
	// +kubebuilder:validation:XValidation:rule="self.transformMapEntry(i, g, {g.faultDomainId.id.replace('%', '%25').replace('/', '%2F') + '/' + g.deviceGroupId.id.replace('%', '%25').replace('/', '%2F'): true}).size() == self.size()",message="groupIds must not contain duplicates"
	// +kubebuilder:validation:XValidation:rule="self.map(g, bytes(g.faultDomainId.id).size() + bytes(g.deviceGroupId.id).size()).sum() <= 160000",message="groupIds: the fault domain and device group ids together must not exceed 160000 bytes (UTF-8), so that the run's status fits in one object: split the groups over several ReplicationSyncs"
	// +kubebuilder:validation:items:XValidation:rule=`[self.faultDomainId.id, self.deviceGroupId.id].all(s, s.trim().size() == 0 || (s == s.trim() && !s.matches('[\\p{Cc}\\x{FFFE}\\x{FFFF}]')))`,message="fault domain and device group ids must not start or end with white space or contain control characters such as line breaks or tabs, or U+FFFE or U+FFFF"
	GroupIDs []ReplicationGroupID `json:"groupIds,omitempty"`

	// groupSelector chooses each run's groups by the labels of the provider's ReplicationGroups; every
	// run resolves it when it starts. When it matches more groups than one ReplicationSync holds (1000),
	// the run is resolved when it is due and shared out over several ReplicationSyncs of the same PiT
	// name (label replication.vasa.io/sync-set, annotation replication.vasa.io/share), which count as
	// one run for success, concurrencyPolicy and the history limits.
	// +optional
	GroupSelector *GroupSelector `json:"groupSelector,omitempty"`

	// backoffLimit per group; defaults to 6.
	// +optional
	// +kubebuilder:default=6
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`

	// activeDeadlineSeconds bounds each run; at most 31536000 (a year).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=31536000
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`

	// progressDeadlineSeconds for each run (see ReplicationSync); unset, each run defaults it to 600.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`

	// ttlSecondsAfterFinished for each run; history limits usually suffice. A succeeded run is kept past
	// its TTL until the schedule has recorded the success in status.lastSuccessfulTime (at most 10
	// minutes), so even 0 never hides a success from the schedule and its RPO alert.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// maxBatchSize caps the groups per SMS call for each run; 0 means the provider decides.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	MaxBatchSize int32 `json:"maxBatchSize,omitempty"`
}

// ReplicationSyncScheduleStatus is the observed state of a schedule.
type ReplicationSyncScheduleStatus struct {
	// conditions: Ready is False with a reason when the schedule or template is invalid (Stalled),
	// the API server rejects the runs (RunRejected) or Replace cannot delete an earlier run
	// (RunNotReplaced).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// active lists the ReplicationSyncs of this schedule that are still running.
	// +optional
	// +listType=atomic
	Active []corev1.ObjectReference `json:"active,omitempty"`

	// lastScheduleTime is the scheduled time of the last run started.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// lastSuccessfulTime is when the last run succeeded.
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`

	// lastRecoveryPointTime is the newest point in time the schedule's succeeded runs can recover to: of
	// each run (the shares of one, together), its oldest group's PiT (the provider's timeStamp, at most
	// the run's completionTime; its startTime when the provider reports no times). A run that ran for
	// hours, or found PiTs made before it, recovers to earlier than its success. The RPO alert
	// (ReplicationSyncScheduleRPOMissed) counts from it.
	// +optional
	LastRecoveryPointTime *metav1.Time `json:"lastRecoveryPointTime,omitempty"`

	// nextScheduleTime is the next time a run is due.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`

	// missedRuns counts scheduled runs that were never started: overtaken by a later scheduled time
	// (the operator was down, the schedule suspended, or concurrencyPolicy Forbid held them back) or not
	// started within startingDeadlineSeconds. Runs a changed schedule or timeZone would have had before
	// the change was observed (scheduleChangeTime) are not counted.
	// +optional
	MissedRuns int32 `json:"missedRuns,omitempty"`

	// lastMissedTime is the scheduled time of the most recent missed run.
	// +optional
	LastMissedTime *metav1.Time `json:"lastMissedTime,omitempty"`

	// observedSchedule is the schedule and timeZone the status describes, as "<schedule> <timeZone>".
	// +optional
	ObservedSchedule string `json:"observedSchedule,omitempty"`

	// scheduleChangeTime is when the operator first observed a change of schedule or timeZone. Runs of the
	// new schedule due before it are not counted in missedRuns: editing "0 * * * *" to "*/5 * * * *" at
	// :31 misses nothing. Other edits leave it alone, so runs missed while the operator was down still
	// count.
	// +optional
	ScheduleChangeTime *metav1.Time `json:"scheduleChangeTime,omitempty"`

	// observedGeneration is the generation the status describes.
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// ReplicationSyncSchedule condition reasons.
const (
	// ScheduledReason (Ready=True): the schedule is valid and runs are created on time.
	ScheduledReason = "Scheduled"
	// SuspendedReason (Ready=True): the schedule is suspended.
	SuspendedReason = "Suspended"
	// InvalidScheduleReason (Stalled): the cron expression or time zone does not parse.
	InvalidScheduleReason = "InvalidSchedule"
	// InvalidTemplateReason (Stalled): pitNameTemplate does not render to a valid PiT name.
	InvalidTemplateReason = "InvalidTemplate"
	// RunRejectedReason (Ready=False, Reconciling=True): the API server refused to create a run
	// (Invalid or Forbidden: template labels, a ResourceQuota, an admission policy; retried every minute)
	// or failed to (an admission webhook down, throttling, a timeout; retried every 10 s).
	RunRejectedReason = "RunRejected"
	// RunNotReplacedReason (Ready=False, Reconciling=True): concurrencyPolicy is Replace and an earlier
	// active run could not be deleted (an admission policy or webhook refusing the delete, RBAC), so it
	// runs beside the new one; the delete is retried.
	RunNotReplacedReason = "RunNotReplaced"
	// MissedScheduleReason: a run was not started within startingDeadlineSeconds.
	MissedScheduleReason = "MissedSchedule"
)

// ScheduleLabel is set on every ReplicationSync a schedule creates, with the schedule's name.
const ScheduleLabel = "replication.vasa.io/schedule"

// ScheduledTimeAnnotation records the scheduled time (RFC 3339) of a run on its ReplicationSync.
const ScheduledTimeAnnotation = "replication.vasa.io/scheduled-time"

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rsched,categories=vasa
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="TimeZone",type=string,JSONPath=`.spec.timeZone`
// +kubebuilder:printcolumn:name="Suspend",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.active[0].name`,priority=1
// +kubebuilder:printcolumn:name="Last Schedule",type=date,JSONPath=`.status.lastScheduleTime`
// +kubebuilder:printcolumn:name="Last Success",type=date,JSONPath=`.status.lastSuccessfulTime`
// +kubebuilder:printcolumn:name="Recovery Point",type=date,JSONPath=`.status.lastRecoveryPointTime`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ReplicationSyncSchedule creates ReplicationSyncs on a cron schedule.
type ReplicationSyncSchedule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the schedule and the template of each run.
	// +required
	Spec ReplicationSyncScheduleSpec `json:"spec"`
	// status is the schedule's observed state.
	// Until the operator has written it, it reads observedGeneration -1, so that kstatus (Flux, Helm,
	// kubectl wait) holds a new object InProgress, not Current.
	// +optional
	// +kubebuilder:default={}
	Status ReplicationSyncScheduleStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ReplicationSyncScheduleList is a list of ReplicationSyncSchedules.
type ReplicationSyncScheduleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ReplicationSyncSchedule `json:"items"`
}
