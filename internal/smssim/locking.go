package smssim

// Lock implements sync.Locker as a no-op. vcsim holds an object's lock for the whole of each
// method call unless the object brings its own locker; every provider method guards its state
// with Sim.mu and sleeps its latency outside it, so concurrent calls to one provider overlap, as
// on a real provider, instead of queueing behind the latency of each other.
func (*vasaProvider) Lock() {}

// Unlock implements sync.Locker as a no-op (see Lock).
func (*vasaProvider) Unlock() {}
