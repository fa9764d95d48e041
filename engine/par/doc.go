// Package par runs one piece of work split in parts on a team of
// long-lived goroutines, fork-join style, cheaply enough to split the
// sub-millisecond products and optimizer steps of a training step.
//
// Why not a channel and a WaitGroup: a goroutine blocked on a channel is
// parked, and waking it costs a futex call on the OS thread and, on a virtual
// machine, an inter-processor interrupt — tens of microseconds, as long as the
// mlp's whole forward product. Here a worker that has just finished a part
// keeps polling for the next one for a short while (SpinFor) before it parks,
// the way OpenMP runtimes do (OMP_WAIT_POLICY, GOMP_SPINCOUNT): during
// training the parts follow each other within microseconds, so a hand-off
// costs an atomic store and a cache-line transfer. The polling calls
// runtime.Gosched, so other goroutines on the worker's P still run.
//
// Each member of the team has its own share of a Do's parts, the same from
// one Do to the next, so that a part runs where its data was left in cache;
// a member that has not started a part when the others are done with theirs
// (its core taken by another process, or its thread descheduled) has it
// taken over, so one stalled core does not stall the step.
//
// One Do runs at a time on the team. A Do that finds the team busy (another
// goroutine's, or a part calling Do again) runs all its parts itself, so
// callers never wait on each other and nesting cannot deadlock.
package par
