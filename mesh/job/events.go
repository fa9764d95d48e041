package job

import (
	"sync"
	"time"
)

// Event reports job progress to local subscribers (the control API).
type Event struct {
	// Type is job_preparing (a submission of this node's is being cut),
	// job_announced (the job runs here), job_status, job_done, job_failed,
	// job_refused (this peer refused it), job_pending, job_declined,
	// job_expired (--jobs ask) or job_peer_refused (another peer refused a
	// job this node submitted: Refusal says who and why).
	Type   string  `json:"type"`
	Job    string  `json:"job"`
	Spec   *Spec   `json:"spec,omitempty"`
	Status *Status `json:"status,omitempty"`
	// Error says why a job was refused (job_refused).
	Error   string    `json:"error,omitempty"`
	Refusal *Refusal  `json:"refusal,omitempty"`
	Time    time.Time `json:"time"`
}

// Subscribe returns a channel of job events. Events are dropped for a
// subscriber whose buffer is full (the node never blocks on a slow one);
// cancel must be called once.
func (m *Manager) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, eventBuffer)
	m.mu.Lock()
	if m.closed {
		close(ch)
	} else {
		m.subs[ch] = struct{}{}
	}
	m.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			m.mu.Lock()
			if _, ok := m.subs[ch]; ok {
				delete(m.subs, ch)
				close(ch)
			}
			m.mu.Unlock()
		})
	}
}

func (m *Manager) emit(e Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for ch := range m.subs {
		select {
		case ch <- e:
		default:
		}
	}
}
