package modelserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Lingering close of a refused body, with its bounds.
const (
	// lingerFor bounds how long the server keeps reading, and dropping,
	// what a refused client still sends after the answer; a client that
	// read the answer closes long before.
	lingerFor = 2 * time.Second
)

// refuseUnread answers 413 with msg to a request whose body is not read,
// and closes the connection the way RFC 9112 §9.6 asks: the answer, then
// the write side shut, then what the client still sends read and dropped
// until it closes (or lingerFor, or the declared length), and only then
// the socket closed. A socket closed with unread data sends a reset, and a client
// that is still writing its body (every HTTP client sends the whole
// request before it reads) often loses the answer to it and sees only
// "connection reset by peer"; net/http's own lingering close is skipped
// once a handler asks for Connection: close, and is a fixed 500 ms sleep
// that a loaded machine outlasts. Once the client is over its error
// budget the answer waits out its penalty first, like any error's; the
// kernel meanwhile buffers what the client sends only up to the
// connection's receive window, which does not grow while nothing is read;
// and what it sends after the answer is read at its slow body rate.
func refuseUnread(w http.ResponseWriter, r *http.Request, budget *errorBudget, msg string) {
	if budget != nil {
		// Whether hold would close the connection does not matter: this
		// answer always does.
		budget.hold(r)
	}
	js, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	body := string(js) + "\n"
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2, a test's recorder): net/http closes.
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = io.WriteString(w, body)
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(lingerFor))
	fmt.Fprintf(buf, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s",
		strconv.Itoa(len(body)), body)
	if buf.Flush() != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	var rest io.Reader = conn
	if budget != nil {
		if c, ok := clientOf(r.RemoteAddr); ok && budget.over(c) {
			rest = budget.slowReader(context.Background(), c, conn)
		}
	}
	_, _ = io.CopyN(io.Discard, rest, r.ContentLength)
}
