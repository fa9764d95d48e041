package controlapi

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// PathLogs is the node's recent log lines (GET, ?level=&n=&after=).
const PathLogs = "/api/v1/logs"

// MaxLogLines is the most lines one GET PathLogs answers with.
const MaxLogLines = 2000

// LogLine is one line of the node's log.
type LogLine struct {
	// Seq numbers the lines from 1 since the node started; ask for
	// lines after the last one seen with LogQuery.After.
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Level string    `json:"level"` // DEBUG, INFO, WARN, ERROR
	Msg   string    `json:"msg"`
	// Attrs are the line's attributes as key=value text, in order.
	Attrs string `json:"attrs,omitempty"`
}

// LogsResponse is the body of GET PathLogs, oldest line first.
type LogsResponse struct {
	Lines []LogLine `json:"lines"`
}

// LogQuery selects log lines: Level is the lowest level shown (debug,
// info, warn, error; "" all the node kept), N the most lines (the newest;
// 0 the server's default), After only lines with a larger Seq.
type LogQuery struct {
	Level string
	N     int
	After uint64
}

// Logs returns the node's recent log lines.
func (c *Client) Logs(ctx context.Context, q LogQuery) ([]LogLine, error) {
	v := url.Values{}
	if q.Level != "" {
		v.Set("level", q.Level)
	}
	if q.N > 0 {
		v.Set("n", strconv.Itoa(q.N))
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatUint(q.After, 10))
	}
	path := PathLogs
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var r LogsResponse
	if err := c.getJSON(ctx, path, &r); err != nil {
		return nil, err
	}
	if r.Lines == nil {
		r.Lines = []LogLine{}
	}
	return r.Lines, nil
}
