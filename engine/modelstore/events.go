package modelstore

import "sync"

// EventKind says what changed in a store.
type EventKind int

// Kinds of Event.
const (
	// EventPublished: a new version folder is in place (Version).
	EventPublished EventKind = iota + 1
	// EventLabelSet: Label now points at Version.
	EventLabelSet
	// EventLabelRemoved: Label was deleted (Version is 0).
	EventLabelRemoved
	// EventRemoved: Version was removed, or, with Version 0, the whole
	// model with its labels. Labels that pointed at a removed version are
	// gone too (no EventLabelRemoved is sent for them).
	EventRemoved
)

func (k EventKind) String() string {
	switch k {
	case EventPublished:
		return "published"
	case EventLabelSet:
		return "label-set"
	case EventLabelRemoved:
		return "label-removed"
	case EventRemoved:
		return "removed"
	}
	return "unknown"
}

// Event is one change made through a Store: a published version or a label
// update of model Name.
type Event struct {
	Kind    EventKind
	Name    string
	Version int
	Label   string
}

// subscribers holds the listeners of a Store.
type subscribers struct {
	mu   sync.Mutex
	next int
	fns  map[int]func(Event)
	// order keeps the ids in subscription order, so listeners are called
	// in a fixed order.
	order []int
}

// Subscribe calls fn after every change made through this Store value:
// after a Publish, PublishFile or PublishModel that placed a version folder
// (EventPublished), and after SetLabel and a RemoveLabel that removed
// something (EventLabelSet, EventLabelRemoved), and after a Remove
// (EventRemoved). The returned function
// cancels the subscription; it may be called more than once.
//
// Contract: fn runs synchronously in the goroutine that made the change,
// once the change is on disk and after the store's lock is released, so it
// may call the Store's methods; listeners run in subscription order. fn
// must not block (hand the event to a buffered channel or set a flag) and
// must not panic. Events of concurrent writers may arrive in any order, and
// changes made by other processes or by hand (copying a version folder in)
// are not reported: treat an event as a hint that name changed and read the
// store again, and rescan now and then for changes from outside.
func (s *Store) Subscribe(fn func(Event)) (cancel func()) {
	if fn == nil {
		return func() {}
	}
	s.subs.mu.Lock()
	defer s.subs.mu.Unlock()
	if s.subs.fns == nil {
		s.subs.fns = map[int]func(Event){}
	}
	id := s.subs.next
	s.subs.next++
	s.subs.fns[id] = fn
	s.subs.order = append(s.subs.order, id)
	return func() {
		s.subs.mu.Lock()
		defer s.subs.mu.Unlock()
		if _, ok := s.subs.fns[id]; !ok {
			return
		}
		delete(s.subs.fns, id)
		for i, o := range s.subs.order {
			if o == id {
				s.subs.order = append(s.subs.order[:i:i], s.subs.order[i+1:]...)
				break
			}
		}
	}
}

// notify calls the listeners with ev. The caller must not hold s.mu.
func (s *Store) notify(ev Event) {
	s.subs.mu.Lock()
	fns := make([]func(Event), 0, len(s.subs.order))
	for _, id := range s.subs.order {
		fns = append(fns, s.subs.fns[id])
	}
	s.subs.mu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}
