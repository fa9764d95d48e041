package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// WriteJSON writes v as a JSON answer with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "encode answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// WriteError writes {"error": msg} with the given status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	data, _ := json.Marshal(controlapi.ErrorResponse{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// DecodeRequest reads a JSON request body into v, rejecting bodies over
// limit bytes (MaxRequestBytes when limit <= 0), unknown fields and trailing
// data. On error it has already answered 400 or 413 and returns the error.
func DecodeRequest(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if limit <= 0 || limit > MaxRequestBytes {
		limit = MaxRequestBytes
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		err := fmt.Errorf("content type %q, want application/json", ct)
		WriteError(w, http.StatusUnsupportedMediaType, err.Error())
		return err
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	if err := controlapi.DecodeJSONStrict(body, limit, v); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, controlapi.ErrTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		WriteError(w, status, "request body: "+err.Error())
		return err
	}
	return nil
}
