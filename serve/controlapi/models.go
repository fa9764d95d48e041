package controlapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// PathModels lists the node's models (GET); PathModels + "/{name}" and
// below hold the per-model routes (see ModelPath).
const PathModels = "/api/v1/models"

// ModelPath returns the path of a model's route: ModelPath("m", "labels")
// is "/api/v1/models/m/labels"; with no parts, the model itself.
func ModelPath(name string, parts ...string) string {
	p := PathModels + "/" + url.PathEscape(name)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// Model is one model of the node: every version the store holds, with its
// state in the node's catalog, and the labels. The JSON form only ever
// gains fields.
type Model struct {
	Name     string         `json:"name"`
	Versions []ModelVersion `json:"versions"` // newest first
	Labels   map[string]int `json:"labels"`
}

// ModelVersion is one version of a model.
type ModelVersion struct {
	Version int `json:"version"`
	// State is a TensorFlow Serving state: START, LOADING, AVAILABLE, END.
	State string `json:"state"`
	// Error says why the version is not AVAILABLE ("unloaded" when it
	// loads fine but is not kept loaded).
	Error string `json:"error,omitempty"`
	Bytes int64  `json:"bytes,omitempty"`
	// SHA256 is the model's content hash, known once the version loaded.
	SHA256 string `json:"sha256,omitempty"`
}

// ModelsResponse is the body of GET PathModels.
type ModelsResponse struct {
	Models []Model `json:"models"`
}

// SetLabelRequest is the body of POST ModelPath(name, "labels").
type SetLabelRequest struct {
	Label   string `json:"label"`
	Version int    `json:"version"`
}

// LabelResponse answers SetLabelRequest.
type LabelResponse struct {
	Name    string `json:"name"`
	Label   string `json:"label"`
	Version int    `json:"version"`
}

// RemoveResponse answers DELETE ModelPath(name) and ModelPath(name,
// "versions", v): Version 0 means the whole model was removed.
type RemoveResponse struct {
	Name    string `json:"name"`
	Version int    `json:"version,omitempty"`
}

// PullRequest is the body of POST ModelPath(name, "pull"): at most one of
// Version and Label (neither: the newest version), and optionally the peer
// to pull from (default: any live peer that announces the model, nearest
// first).
type PullRequest struct {
	Version int    `json:"version,omitempty"`
	Label   string `json:"label,omitempty"`
	Peer    string `json:"peer,omitempty"`
}

// PullResponse describes a pulled model.
type PullResponse struct {
	Name string `json:"name"`
	// Version is the new local version.
	Version       int    `json:"version"`
	RemoteVersion int    `json:"remote_version"`
	Peer          string `json:"peer"`
	SHA256        string `json:"sha256"`
	Bytes         int64  `json:"bytes"`
	// Int8 says the new version is int8 (an edge peer pulls only int8);
	// QuantizedHere that the node quantized the float file it was sent
	// (no peer served the int8 form). Bytes and SHA256 are the sent file's.
	Int8          bool `json:"int8,omitempty"`
	QuantizedHere bool `json:"quantized_here,omitempty"`
}

// PredictRequest is the body of POST ModelPath(name, "predict"). Each
// input is a string (text models) or an array of numbers (image models,
// nested arrays are flattened). Version or Label pick a version (neither:
// the newest that loaded).
type PredictRequest struct {
	Inputs  []json.RawMessage `json:"inputs"`
	Version int               `json:"version,omitempty"`
	Label   string            `json:"label,omitempty"`
}

// Prediction is one input's answer.
type Prediction struct {
	Label         string    `json:"label"`
	Class         int       `json:"class"`
	Probability   float64   `json:"probability"`
	Probabilities []float64 `json:"probabilities"`
}

// PredictResponse answers a PredictRequest.
type PredictResponse struct {
	Name        string       `json:"name"`
	Version     int          `json:"version"`
	Predictions []Prediction `json:"predictions"`
	// ServedBy is the peer that answered, empty when this node did.
	ServedBy string `json:"served_by,omitempty"`
}

// pullTimeout bounds PullModel when ctx has no deadline: the node streams
// the whole file before it answers.
const pullTimeout = 10 * time.Minute

// Models lists the node's models.
func (c *Client) Models(ctx context.Context) ([]Model, error) {
	var r ModelsResponse
	if err := c.getJSON(ctx, PathModels, &r); err != nil {
		return nil, err
	}
	if r.Models == nil {
		r.Models = []Model{}
	}
	return r.Models, nil
}

// SetModelLabel points label at version of name; the node refuses a
// version that did not load.
func (c *Client) SetModelLabel(ctx context.Context, name, label string, version int) error {
	if name == "" {
		return errors.New("no model name")
	}
	var out LabelResponse
	return c.sendJSON(ctx, http.MethodPost, ModelPath(name, "labels"), SetLabelRequest{Label: label, Version: version}, &out, false)
}

// QuantizeResponse answers POST ModelPath(name, "quantize"): Version is
// the new int8 version, made from FromVersion.
type QuantizeResponse struct {
	Name        string `json:"name"`
	Version     int    `json:"version"`
	FromVersion int    `json:"from_version"`
	Bytes       int64  `json:"bytes"`
	SHA256      string `json:"sha256"`
}

// QuantizeModel asks the node to publish the int8 form of name's newest
// version as its next version.
func (c *Client) QuantizeModel(ctx context.Context, name string) (QuantizeResponse, error) {
	var out QuantizeResponse
	if name == "" {
		return out, errors.New("no model name")
	}
	err := c.sendJSON(ctx, http.MethodPost, ModelPath(name, "quantize"), struct{}{}, &out, true)
	return out, err
}

// ServingResponse answers POST ModelPath(name, "unload") and
// ModelPath(name, "serve").
type ServingResponse struct {
	Name    string `json:"name"`
	Serving bool   `json:"serving"`
}

// SetModelServing unloads name on the node (serving false: no version
// stays loaded and peers stop hearing it announced; its files stay) or
// serves it again.
func (c *Client) SetModelServing(ctx context.Context, name string, serving bool) error {
	if name == "" {
		return errors.New("no model name")
	}
	verb := "unload"
	if serving {
		verb = "serve"
	}
	var out ServingResponse
	return c.sendJSON(ctx, http.MethodPost, ModelPath(name, verb), struct{}{}, &out, false)
}

// RemoveModel removes version of name from the node's store, or with
// version 0 the whole model with its labels.
func (c *Client) RemoveModel(ctx context.Context, name string, version int) error {
	if name == "" {
		return errors.New("no model name")
	}
	if version < 0 {
		return fmt.Errorf("version %d: want 0 (all) or a number from 1", version)
	}
	path := ModelPath(name)
	if version > 0 {
		path = ModelPath(name, "versions", strconv.Itoa(version))
	}
	var out RemoveResponse
	return c.sendJSON(ctx, http.MethodDelete, path, nil, &out, false)
}

// PullModel asks the node to pull name from a peer into its store and
// returns what arrived. Without a deadline in ctx it waits up to 10 min.
func (c *Client) PullModel(ctx context.Context, name string, req PullRequest) (PullResponse, error) {
	var out PullResponse
	if name == "" {
		return out, errors.New("no model name")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pullTimeout)
		defer cancel()
	}
	err := c.sendJSON(ctx, http.MethodPost, ModelPath(name, "pull"), req, &out, true)
	return out, err
}

// PredictModel asks the node for predictions of name.
func (c *Client) PredictModel(ctx context.Context, name string, req PredictRequest) (PredictResponse, error) {
	var out PredictResponse
	if name == "" {
		return out, errors.New("no model name")
	}
	err := c.sendJSON(ctx, http.MethodPost, ModelPath(name, "predict"), req, &out, false)
	return out, err
}

// sendJSON sends in (nil: no body) and decodes the answer into out. slow:
// the answer may take longer than the transport's response-header timeout,
// so the request goes through a transport without one.
func (c *Client) sendJSON(ctx context.Context, method, path string, in, out any, slow bool) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	cl := c
	if slow {
		if tr, ok := c.hc.Transport.(*http.Transport); ok {
			tr = tr.Clone()
			tr.ResponseHeaderTimeout = 0
			defer tr.CloseIdleConnections()
			cc := *c
			cc.hc = &http.Client{Transport: tr}
			cl = &cc
		}
	}
	resp, err := cl.do(ctx, method, path, "application/json", body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := DecodeJSON(resp.Body, MaxResponseBytes, out); err != nil {
		return fmt.Errorf("shoal node at %s: %s %s: %w", c.addr, method, path, err)
	}
	return nil
}
