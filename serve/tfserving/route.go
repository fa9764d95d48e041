package tfserving

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// route is a parsed /v1/models path.
type route struct {
	model      string
	hasVersion bool // /versions/N was given (N may be 0, which matches nothing)
	version    int
	label      string // /labels/L
	metadata   bool   // …/metadata
	verb       string // "predict", "classify" or "regress" for …:verb; "" otherwise
}

// Verbs of the POST routes.
const (
	verbPredict  = "predict"
	verbClassify = "classify"
	verbRegress  = "regress"
)

// parseRoute parses the escaped path of a request to the v1 API:
//
//	/v1/models/{m}[/versions/{N}|/labels/{L}][/metadata]
//	/v1/models/{m}[/versions/{N}|/labels/{L}]:(predict|classify|regress)
//
// Like TF Serving it matches the fixed words case-insensitively, takes a
// version as decimal digits and percent-decodes the model name and label
// (so a name may hold an escaped '/' or ':').
// ok is false for a path of another shape (TF Serving's "Malformed
// request"); err is set for a well-shaped path with a bad part.
func parseRoute(escaped string) (rt route, ok bool, err error) {
	rest, found := cutPrefixFold(escaped, "/v1/models")
	if !found {
		return rt, false, nil
	}
	if rest == "" {
		return rt, false, badRequest("Missing model name in request.")
	}
	if rest[0] != '/' {
		return rt, false, nil
	}
	rest = rest[1:]
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rt.verb = strings.ToLower(rest[i+1:])
		rest = rest[:i]
		switch rt.verb {
		case verbPredict, verbClassify, verbRegress:
		default:
			return rt, false, nil
		}
	}
	segs := strings.Split(rest, "/")
	if rt.verb == "" && len(segs) > 1 && strings.EqualFold(segs[len(segs)-1], "metadata") {
		rt.metadata = true
		segs = segs[:len(segs)-1]
	}
	switch len(segs) {
	case 1:
	case 3:
		switch {
		case strings.EqualFold(segs[1], "versions"):
			if !allDigits(segs[2]) {
				return rt, false, nil
			}
			v, perr := strconv.Atoi(segs[2])
			if perr != nil || v > math.MaxInt/2 {
				return rt, false, badRequest("Failed to convert version: %s to numeric.", segs[2])
			}
			rt.hasVersion, rt.version = true, v
		case strings.EqualFold(segs[1], "labels"):
			l, derr := unescape(segs[2])
			if derr != nil {
				return rt, false, badRequest("Failed to decode model version label: %s", segs[2])
			}
			if l == "" {
				return rt, false, nil
			}
			rt.label = l
		default:
			return rt, false, nil
		}
	default:
		return rt, false, nil
	}
	name, derr := unescape(segs[0])
	if derr != nil {
		return rt, false, badRequest("Failed to decode model name: %s", segs[0])
	}
	if name == "" {
		return rt, false, nil
	}
	rt.model = name
	return rt, true, nil
}

// unescape percent-decodes one path segment.
func unescape(seg string) (string, error) { return url.PathUnescape(seg) }

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// servableRequest names a lookup the way TF Serving's errors do:
// Latest(m) or Specific(m, 3).
func (rt route) servableRequest() string {
	if rt.hasVersion {
		return fmt.Sprintf("Specific(%s, %d)", rt.model, rt.version)
	}
	return fmt.Sprintf("Latest(%s)", rt.model)
}
