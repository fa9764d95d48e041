package modelstore

import (
	"reflect"
	"sync"
	"testing"

	"github.com/shoalmesh/shoal/engine/modelfile"
)

func TestSubscribe(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got, got2 []Event
	cancel := s.Subscribe(func(ev Event) {
		// The store's lock is released: reading the store from the
		// listener must not deadlock.
		if ev.Kind == EventPublished {
			if _, err := s.Path(ev.Name, ev.Version); err != nil {
				t.Errorf("version %d not in place when notified: %v", ev.Version, err)
			}
		}
		if _, err := s.Labels(ev.Name); err != nil {
			t.Errorf("Labels from a listener: %v", err)
		}
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	})
	cancel2 := s.Subscribe(func(ev Event) {
		mu.Lock()
		got2 = append(got2, ev)
		mu.Unlock()
	})
	if _, err := s.Publish("m", model(t, 1)); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir() + "/in.safetensors"
	if _, err := modelfile.Write(src, []modelfile.Tensor{modelfile.F32Tensor("w", []int{1}, []float32{1})}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishFile("m", src); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PublishModel("m", []modelfile.Tensor{modelfile.F32Tensor("w", []int{1}, []float32{2})}, nil); err != nil {
		t.Fatal(err)
	}
	// Failures are not reported.
	bad := model(t, 2)
	bad[len(bad)-1] ^= 1
	if _, err := s.Publish("m", bad); err == nil {
		t.Fatal("corrupt publish accepted")
	}
	if err := s.SetLabel("m", "stable", 9); err == nil {
		t.Fatal("label on a missing version accepted")
	}
	if err := s.SetLabel("m", "stable", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveLabel("m", "canary"); err != nil { // absent: no event
		t.Fatal(err)
	}
	if err := s.RemoveLabel("m", "stable"); err != nil {
		t.Fatal(err)
	}
	cancel2()
	cancel2() // twice is fine
	if _, err := s.Publish("m", model(t, 3)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := s.Publish("m", model(t, 4)); err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Kind: EventPublished, Name: "m", Version: 1},
		{Kind: EventPublished, Name: "m", Version: 2},
		{Kind: EventPublished, Name: "m", Version: 3},
		{Kind: EventLabelSet, Name: "m", Version: 2, Label: "stable"},
		{Kind: EventLabelRemoved, Name: "m", Label: "stable"},
		{Kind: EventPublished, Name: "m", Version: 4},
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}
	if !reflect.DeepEqual(got2, want[:5]) {
		t.Errorf("second listener's events\n got %v\nwant %v", got2, want[:5])
	}
	if EventPublished.String() != "published" || EventKind(0).String() != "unknown" {
		t.Error("EventKind.String")
	}
}

// TestSubscribeConcurrent: publishing from many goroutines reports every
// version exactly once (run with -race).
func TestSubscribeConcurrent(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan Event, 64)
	defer s.Subscribe(func(ev Event) { ch <- ev })()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := s.Publish("m", model(t, float32(i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	close(ch)
	seen := map[int]bool{}
	for ev := range ch {
		if seen[ev.Version] {
			t.Errorf("version %d reported twice", ev.Version)
		}
		seen[ev.Version] = true
	}
	if len(seen) != 8 {
		t.Errorf("%d versions reported, want 8", len(seen))
	}
}
