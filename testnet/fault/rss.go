package fault

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// RSS is the resident memory of the peer's process in bytes (Linux
// /proc; in a namespace `ip netns exec` has exec'd into shoal, so the pid
// is shoal's).
func (p *Peer) RSS() (int64, error) {
	pid, err := p.pid()
	if err != nil {
		return 0, err
	}
	return ProcessRSS(pid)
}

// pid is the process id of the peer's latest start.
func (p *Peer) pid() (int, error) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0, fmt.Errorf("fault: %s never started", p.Name)
	}
	return cmd.Process.Pid, nil
}

// ProcessRSS is VmRSS of process pid in bytes.
func ProcessRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("fault: VmRSS of %d: %w", pid, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("fault: no VmRSS for process %d", pid)
}

// CPU is the user and system CPU time the peer's process has used.
func (p *Peer) CPU() (time.Duration, error) {
	pid, err := p.pid()
	if err != nil {
		return 0, err
	}
	return ProcessCPU(pid)
}

// userHZ is the unit of /proc's CPU times: fixed at 100 by Linux's ABI
// (USER_HZ), whatever the kernel's own tick.
const userHZ = 100

// ProcessCPU is the user and system CPU time process pid has used (Linux
// /proc/PID/stat, fields 14 and 15).
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("fault: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:])) // from field 3 on
	if len(f) < 13 {
		return 0, fmt.Errorf("fault: /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("fault: /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}
