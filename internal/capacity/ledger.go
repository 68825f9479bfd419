package capacity

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// recentTasks is how many task durations per provider the ledger remembers.
const recentTasks = 16

// Ledger is safe for concurrent use. The zero value is not usable; call New.
type Ledger struct {
	mu        sync.Mutex
	providers map[types.NamespacedName]*provider
	wake      func(owner string)
	now       func() time.Time
	// forgotten are the owners ForgetOwner released in the last settledMemory, on any provider, also one
	// the ledger did not know yet: a Prime of it from a list read before must not bring their slots back.
	forgotten recentOwners
}

// MaxAskInterval is the longest an owner waiting for a slot may sleep before it asks again (Reserve):
// callers wake a waiting owner at least that often to keep its place in line.
const MaxAskInterval = 5 * time.Minute

// waiterTTL drops a waiter that has not asked again for that long (its run ended elsewhere, e.g. in
// another manager): twice the longest a live waiter sleeps, so that a reconcile that comes late keeps
// its place too.
const waiterTTL = 2 * MaxAskInterval

// waiter is an owner waiting for a free slot, since its creation: the oldest is served first.
type waiter struct {
	owner string
	since time.Time
	asked time.Time // when it last asked
}

func (w waiter) before(o waiter) bool {
	return w.since.Before(o.since) || (w.since.Equal(o.since) && w.owner < o.owner)
}

type provider struct {
	// uid is the VasaProvider object's whose learning this is (BindObject); "" until it is known.
	uid types.UID
	// learnedOf names the provider, provider version and vCenter the learning is of (Relearn, or the
	// first status seeded from); "" until it is known. A status of another is not seeded from.
	learnedOf string
	learned   int32
	durations []time.Duration // the most recent task durations, oldest first
	loadedDur time.Duration   // seeded from status after a restart
	reported  time.Duration   // the longest duration ObserveTask last reported as changed
	queued    []float64       // the most recent queued shares (prediction.go), oldest first

	primed bool
	held   map[string]int // owner (ReplicationSync namespace/name) -> slots it holds
	// settled are the owners set in this process before priming, and when: Prime leaves them alone.
	settled recentOwners
	waiters []waiter // oldest first
	limit   int      // maxConcurrentTasks as last given to Hold or Reserve
	// moved is when a task of the provider last ended, or a run holding slots ended: the line moved.
	moved time.Time
}

// settledMemory is how long an owner set before priming is remembered. A list that still shows it as it
// was is one read before the owner's own write reached the manager's cache, or one a reconcile lists and
// primes from moments later: far less than this. A provider none of whose runs starts in this process is
// never primed, and every run of its namespace that ends is settled on it.
const settledMemory = 10 * time.Minute

// New returns an empty ledger.
func New() *Ledger { return NewWithClock(time.Now) }

// NewWithClock returns an empty ledger that tells time by now.
func NewWithClock(now func() time.Time) *Ledger {
	return &Ledger{providers: map[types.NamespacedName]*provider{}, now: now}
}

// get returns the provider entry, creating it; callers hold l.mu.
func (l *Ledger) get(key types.NamespacedName) *provider {
	p, ok := l.providers[key]
	if !ok {
		p = &provider{held: map[string]int{}}
		l.providers[key] = p
	}
	return p
}

// Forget drops everything known about a provider (its VasaProvider was deleted).
func (l *Ledger) Forget(key types.NamespacedName) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.providers, key)
}

// Relearn drops what the ledger learned about a provider's batch size and task durations (its VasaProvider
// now reaches another provider, provider version or vCenter, which of names); the slots held stay.
func (l *Ledger) Relearn(key types.NamespacedName, of string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.get(key)
	if of != "" && p.learnedOf == of {
		return // learned anew for it already: a check that read an older status of the VasaProvider
	}
	p.relearn(of)
}

// seedable reports whether a status of what of names may seed p, and takes of as p's when p has none.
// A run or check reading a VasaProvider from the cache may hold its status from before a Relearn: seeded
// from it, the old provider's batch size would be written back for good.
func (p *provider) seedable(of string) bool {
	if of == "" || p.learnedOf == "" {
		p.learnedOf = cmp.Or(p.learnedOf, of)
		return true
	}
	return p.learnedOf == of
}

// BindObject records the UID of the VasaProvider behind key. When another object of the name held it
// before (deleted and created again before its deletion was reconciled: kubectl replace --force, a GitOps
// tool replacing it), what that one learned is forgotten, as Relearn, and BindObject reports true.
func (l *Ledger) BindObject(key types.NamespacedName, uid types.UID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.get(key)
	was := p.uid
	p.uid = uid
	if was == "" || was == uid {
		return false
	}
	p.relearn("")
	return true
}

// relearn forgets what the provider taught, its batch size and task durations, and learns anew of what
// of names ("": of the first status seeded from).
func (p *provider) relearn(of string) {
	p.learned, p.durations, p.loadedDur, p.reported, p.queued = 0, nil, 0, 0, nil
	p.learnedOf = of
}

// LearnedBatchSize returns the batch size the provider taught (0 = none yet).
func (l *Ledger) LearnedBatchSize(key types.NamespacedName) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.providers[key]; ok {
		return p.learned
	}
	return 0
}

// LoadLearnedBatchSize seeds the learned size from status after a restart, when the status is of what of
// names (seedable); a size learned in memory wins.
func (l *Ledger) LoadLearnedBatchSize(key types.NamespacedName, of string, size int32) {
	if size <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.get(key); p.learned == 0 && p.seedable(of) {
		p.learned = size
	}
}

// LearnBatchSize records a size from a TooMany fault (<= 0 means 1) and reports whether it changed.
func (l *Ledger) LearnBatchSize(key types.NamespacedName, size int32) bool {
	size = max(size, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.get(key)
	if p.learned == size {
		return false
	}
	p.learned = size
	return true
}

// ObserveTask records how long a finished task took and reports whether the longest recent duration
// moved by more than a quarter from what it last reported, so that status follows it without a write
// per task.
func (l *Ledger) ObserveTask(key types.NamespacedName, d time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.get(key)
	p.durations = recent(p.durations, d)
	longest := p.longest()
	diff := longest - p.reported
	if diff < 0 {
		diff = -diff
	}
	if p.reported > 0 && diff <= p.reported/4 {
		return false
	}
	p.reported = longest
	return true
}

// LoadTaskDuration seeds the longest task duration from status after a restart, when the status is of
// what of names (seedable).
func (l *Ledger) LoadTaskDuration(key types.NamespacedName, of string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.get(key); p.seedable(of) {
		p.loadedDur = d
	}
}

// TaskDuration returns the longest recent task duration of the provider (0 = none seen).
func (l *Ledger) TaskDuration(key types.NamespacedName) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.providers[key]; ok {
		return p.longest()
	}
	return 0
}

// longest is the longest recent duration. What status kept counts until this process saw a full window
// of tasks: one quick task after a restart must not shrink the in-doubt window below the tasks that may
// still run.
func (p *provider) longest() time.Duration {
	d := p.loadedDur
	if len(p.durations) >= recentTasks {
		d = 0
	}
	if len(p.durations) > 0 {
		d = max(d, slices.Max(p.durations))
	}
	return d
}

// Primed reports whether the slots of key were counted from status since the process started.
func (l *Ledger) Primed(key types.NamespacedName) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.providers[key]
	return ok && p.primed
}

// Prime counts the slots held on key from status: owner -> slots. Only the first call per key takes
// effect, and it never overwrites an owner this process set in the last settledMemory (Hold, Reserve,
// ForgetOwner): status read before that is older than what the owner itself recorded.
func (l *Ledger) Prime(key types.NamespacedName, held map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.get(key)
	if p.primed {
		return
	}
	now := l.now()
	for owner, n := range held {
		if !p.settled.has(owner, now) && !l.forgotten.has(owner, now) && n > 0 {
			p.held[owner] = n
		}
	}
	p.primed, p.settled = true, recentOwners{}
}

// SetWake sets the function told, outside the ledger's lock, which waiting owners a freed slot may serve.
func (l *Ledger) SetWake(wake func(owner string)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wake = wake
}

// Hold records the slots one owner holds on key as its status shows them; 0 removes the owner. Slots
// it gives back wake as many waiting owners, oldest first, but not owner itself: it is reconciling,
// and asks for what it wants in the same reconcile.
func (l *Ledger) Hold(key types.NamespacedName, owner string, n int, limit int) {
	l.mu.Lock()
	p := l.get(key)
	p.settle(owner, l.now())
	p.limit = limit
	freed := p.held[owner] - n
	p.hold(owner, n)
	woken := slices.DeleteFunc(p.toWake(freed, limit), func(o string) bool { return o == owner })
	wake := l.wake
	l.mu.Unlock()
	notify(wake, woken)
}

// Reserve gives owner (waiting since since) up to want more slots on key while fewer than limit are held
// in all, and returns how many it gave. Waiting is a queue: owners waiting longer are served first, and
// an owner given fewer than it wanted waits for the rest until a freed slot wakes it; it keeps its place
// while it asks again at least every MaxAskInterval. The owner's next Hold replaces the slots with what
// its status then shows.
func (l *Ledger) Reserve(key types.NamespacedName, owner string, since time.Time, want, limit int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.get(key)
	p.limit = limit
	now := l.now()
	p.waiters = slices.DeleteFunc(p.waiters, func(w waiter) bool { return now.Sub(w.asked) > waiterTTL })
	me := waiter{owner: owner, since: since, asked: now}
	older := 0
	for _, w := range p.waiters {
		if w.owner != owner && w.before(me) {
			older++
		}
	}
	n := max(0, min(want, limit-p.inFlight()-older))
	p.settle(owner, now)
	p.hold(owner, p.held[owner]+n)
	p.dropWaiter(owner)
	if n < want { // given fewer than it asked for: it waits for the rest, in its place
		i, _ := slices.BinarySearchFunc(p.waiters, me, func(a, b waiter) int {
			if a.before(b) {
				return -1
			}
			return 1
		})
		p.waiters = slices.Insert(p.waiters, i, me)
	}
	return n
}

// TaskEnded records that a task on key ended (succeeded or failed): the line of owners waiting for its
// slots moved. A slot given back because a call was refused (busy) is no move: no task ended.
func (l *Ledger) TaskEnded(key types.NamespacedName) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.get(key).moved = l.now()
}

// LineMoved returns when a task on key last ended or a run holding its slots ended, as this process saw
// (zero when it saw none): an owner waiting for a slot since then is not stuck, however long it waited.
func (l *Ledger) LineMoved(key types.NamespacedName) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.get(key).moved
}

// Waiting returns how many owners wait for a slot on key.
func (l *Ledger) Waiting(key types.NamespacedName) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.providers[key]; ok {
		return len(p.waiters)
	}
	return 0
}

// dropWaiter takes owner out of the queue and reports whether it was in it; callers hold l.mu.
func (p *provider) dropWaiter(owner string) bool {
	n := len(p.waiters)
	p.waiters = slices.DeleteFunc(p.waiters, func(w waiter) bool { return w.owner == owner })
	return len(p.waiters) < n
}

// toWake returns the oldest waiters that freed slots can serve; callers hold l.mu.
func (p *provider) toWake(freed, limit int) []string {
	if freed <= 0 || len(p.waiters) == 0 {
		return nil
	}
	n := min(len(p.waiters), max(0, limit-p.inFlight()))
	out := make([]string, 0, n)
	for _, w := range p.waiters[:n] {
		out = append(out, w.owner)
	}
	return out
}

func notify(wake func(string), owners []string) {
	if wake == nil {
		return
	}
	for _, o := range owners {
		wake(o)
	}
}

// InFlight returns the slots held on key.
func (l *Ledger) InFlight(key types.NamespacedName) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.providers[key]; ok {
		return p.inFlight()
	}
	return 0
}

// StopWaiting takes owner out of key's queue: it backs off and asks for no slot until then, so it must
// not hold back younger owners meanwhile. It queues again, by its age, when it next asks. Free slots its
// place held back wake the next waiters.
func (l *Ledger) StopWaiting(key types.NamespacedName, owner string) {
	l.mu.Lock()
	p := l.get(key)
	var woken []string
	if p.dropWaiter(owner) {
		woken = p.toWake(p.limit-p.inFlight(), p.limit)
	}
	wake := l.wake
	l.mu.Unlock()
	notify(wake, woken)
}

// ForgetOwner releases one owner's slots on every provider (its run finished or was deleted) and wakes
// the oldest waiters; it returns the providers on which the owner held slots.
func (l *Ledger) ForgetOwner(owner string) (freedOn []types.NamespacedName) {
	l.mu.Lock()
	ns, _, _ := strings.Cut(owner, "/")
	now := l.now()
	l.forgotten.remember(owner, now)
	var woken []string
	for key, p := range l.providers {
		if key.Namespace == ns {
			p.settle(owner, now) // a sync only uses providers of its namespace
		}
		freed := p.held[owner]
		if freed > 0 {
			freedOn = append(freedOn, key)
			p.moved = now
		}
		delete(p.held, owner)
		if p.dropWaiter(owner) {
			// A waiter woken for a free slot that left before taking it (deleted, past its deadline):
			// the slot its place held back goes to the next, as in StopWaiting.
			freed = p.limit - p.inFlight()
		}
		woken = append(woken, p.toWake(freed, p.limit)...)
	}
	wake := l.wake
	l.mu.Unlock()
	notify(wake, woken)
	return freedOn
}

// settle remembers, until the provider is primed or for settledMemory, that owner's slots were set in
// this process at now.
func (p *provider) settle(owner string, now time.Time) {
	if p.primed {
		return
	}
	p.settled.remember(owner, now)
}

// recentOwners are owners remembered for settledMemory; the older ones are swept at most once per
// settledMemory, so that remembering costs no walk over them all each time.
type recentOwners struct {
	at    map[string]time.Time
	swept time.Time
}

// remember remembers owner at now.
func (r *recentOwners) remember(owner string, now time.Time) {
	if r.at == nil {
		r.at = map[string]time.Time{}
	}
	r.at[owner] = now
	if now.Sub(r.swept) < settledMemory {
		return
	}
	for o, at := range r.at {
		if now.Sub(at) > settledMemory {
			delete(r.at, o)
		}
	}
	r.swept = now
}

// has reports whether owner was remembered in the settledMemory before now.
func (r *recentOwners) has(owner string, now time.Time) bool {
	at, ok := r.at[owner]
	return ok && now.Sub(at) <= settledMemory
}

func (p *provider) hold(owner string, n int) {
	if n <= 0 {
		delete(p.held, owner)
		return
	}
	p.held[owner] = n
}

func (p *provider) inFlight() int {
	total := 0
	for _, n := range p.held {
		total += n
	}
	return total
}
