package avg

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/network"
)

// Errors callers may test with errors.Is.
var (
	ErrBusy         = errors.New("avg: partner is busy in another exchange")
	ErrFrozen       = errors.New("avg: this averager is final (frozen)")
	ErrPartnerFinal = errors.New("avg: partner has finalized the job")
	ErrRejected     = errors.New("avg: vector rejected")
	ErrRefused      = errors.New("avg: partner refused")
	ErrNoPartner    = errors.New("avg: no eligible partner")
	ErrClosed       = errors.New("avg: averager closed")
	ErrUnreachable  = errors.New("avg: partner unreachable")
	// ErrPassive: Round drew not to initiate this period
	// (Config.InitiateProbability) and no partner came.
	ErrPassive = errors.New("avg: passive this period")
	// errPeriodDone: a partner averaged with this peer while Round waited
	// to initiate.
	errPeriodDone = errors.New("avg: averaged with a partner meanwhile")
)

// refusedError is a refusal received from a partner.
type refusedError struct {
	st  status
	msg string
}

func (e *refusedError) Error() string {
	if e.msg != "" {
		return fmt.Sprintf("avg: partner refused: %s (%s)", e.st, e.msg)
	}
	return fmt.Sprintf("avg: partner refused: %s", e.st)
}

// Is maps the refusal's status onto the exported errors, so Round can tell
// a busy partner (try another) from a final one (stop).
func (e *refusedError) Is(target error) bool {
	switch target {
	case ErrRefused:
		return true
	case ErrBusy:
		return e.st == stBusy
	case ErrPartnerFinal:
		return e.st == stFrozen
	}
	return false
}

// isIOError tells a broken connection, which is not the partner's fault,
// from bad content, which costs the partner reputation.
func isIOError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, network.ErrReset) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || isTimeout(err)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
