package tfserving

import (
	"net/http"
	"strconv"

	"github.com/shoalmesh/shoal/serve/inference"
)

// StatusResponse is GetModelStatusResponse as TF Serving writes it.
type StatusResponse struct {
	ModelVersionStatus []VersionStatus `json:"model_version_status"`
}

// VersionStatus is one version's status. Version is a decimal string, as
// proto3 JSON writes an int64.
type VersionStatus struct {
	Version string      `json:"version"`
	State   string      `json:"state"`
	Status  StatusProto `json:"status"`
}

// StatusProto is a version's health: error_code "OK" and an empty message,
// or "UNKNOWN" and why the version failed.
type StatusProto struct {
	ErrorCode    string `json:"error_code"`
	ErrorMessage string `json:"error_message"`
}

// status answers GET /v1/models/{m}[/versions/{N}|/labels/{L}]: every
// version the catalog knows (newest first) or the one asked for.
func (h *handler) status(rt route) (any, error) {
	versions, err := h.cat.Versions(rt.model)
	if err != nil || len(versions) == 0 {
		if err == nil || statusOf(err) == http.StatusNotFound {
			return nil, newError(http.StatusNotFound, "Could not find any versions of model %s", rt.model)
		}
		return nil, err
	}
	want := 0
	switch {
	case rt.hasVersion:
		want = rt.version
	case rt.label != "":
		labels, err := h.cat.Labels(rt.model)
		if err != nil && statusOf(err) != http.StatusNotFound {
			return nil, err
		}
		v, ok := labels[rt.label]
		if !ok {
			// TF Serving answers 400 here; the inference contract says 404.
			return nil, newError(http.StatusNotFound, "Unrecognized servable version label: %s", rt.label)
		}
		want = v
	}
	var resp StatusResponse
	for _, vs := range versions {
		if (rt.hasVersion || rt.label != "") && vs.Version != want {
			continue
		}
		resp.ModelVersionStatus = append(resp.ModelVersionStatus, versionStatus(vs))
	}
	if len(resp.ModelVersionStatus) == 0 {
		return nil, newError(http.StatusNotFound, "Could not find version %d of model %s", want, rt.model)
	}
	return resp, nil
}

func versionStatus(vs inference.VersionStatus) VersionStatus {
	st := StatusProto{ErrorCode: "OK"}
	if vs.Error != "" {
		st = StatusProto{ErrorCode: "UNKNOWN", ErrorMessage: vs.Error}
	}
	return VersionStatus{Version: strconv.Itoa(vs.Version), State: vs.State, Status: st}
}

// MetadataResponse is GetModelMetadataResponse as TF Serving writes it:
// the model spec and the signature_def metadata field.
type MetadataResponse struct {
	ModelSpec ModelSpec `json:"model_spec"`
	Metadata  struct {
		SignatureDef SignatureDefMap `json:"signature_def"`
	} `json:"metadata"`
}

// ModelSpec names the version answered; signature_name is "" as in TF
// Serving's answer (the request named none).
type ModelSpec struct {
	Name          string `json:"name"`
	SignatureName string `json:"signature_name"`
	Version       string `json:"version"`
}

// SignatureDefMap holds the model's one signature, SignatureName.
type SignatureDefMap struct {
	SignatureDef map[string]SignatureDef `json:"signature_def"`
}

// SignatureDef is one signature's inputs and outputs.
type SignatureDef struct {
	Inputs     map[string]TensorInfo `json:"inputs"`
	Outputs    map[string]TensorInfo `json:"outputs"`
	MethodName string                `json:"method_name"`
}

// TensorInfo describes one tensor. Name is the graph tensor name TF
// Serving reports ("text:0").
type TensorInfo struct {
	Dtype       string      `json:"dtype"`
	TensorShape TensorShape `json:"tensor_shape"`
	Name        string      `json:"name"`
}

// TensorShape is a tensor's dimensions; -1 is the batch.
type TensorShape struct {
	Dim         []Dim `json:"dim"`
	UnknownRank bool  `json:"unknown_rank"`
}

// Dim is one dimension. Size is a decimal string ("-1"), as proto3 JSON
// writes an int64 and TF Serving answers.
type Dim struct {
	Size string `json:"size"`
	Name string `json:"name"`
}

// metadata answers GET …/metadata.
func (h *handler) metadata(rt route) (any, error) {
	m, err := h.lookup(rt)
	if err != nil {
		return nil, err
	}
	var resp MetadataResponse
	resp.ModelSpec = ModelSpec{Name: m.Name(), Version: strconv.Itoa(m.Version())}
	resp.Metadata.SignatureDef.SignatureDef = map[string]SignatureDef{SignatureName: signatureDef(m.Signature())}
	return resp, nil
}

// signatureDef describes the model's serving_default signature.
func signatureDef(sig inference.Signature) SignatureDef {
	name := inputName(sig)
	in := TensorInfo{Dtype: "DT_STRING", Name: name + ":0", TensorShape: shapeOf(-1)}
	if sig.Kind != inference.KindText {
		in.Dtype = "DT_FLOAT"
		shape := sig.InputShape
		if len(shape) == 0 {
			shape = []int{sig.InputSize}
		}
		in.TensorShape = shapeOf(append([]int{-1}, shape...)...)
	}
	classes := len(sig.Labels)
	if classes == 0 {
		classes = -1
	}
	out := func(dtype, name string, dims ...int) TensorInfo {
		return TensorInfo{Dtype: dtype, Name: name + ":0", TensorShape: shapeOf(dims...)}
	}
	return SignatureDef{
		Inputs: map[string]TensorInfo{name: in},
		Outputs: map[string]TensorInfo{
			OutputClass:         out("DT_INT64", OutputClass, -1),
			OutputLabel:         out("DT_STRING", OutputLabel, -1),
			OutputProbability:   out("DT_FLOAT", OutputProbability, -1),
			OutputProbabilities: out("DT_FLOAT", OutputProbabilities, -1, classes),
		},
		MethodName: "tensorflow/serving/predict",
	}
}

func shapeOf(dims ...int) TensorShape {
	s := TensorShape{Dim: make([]Dim, len(dims))}
	for i, d := range dims {
		s.Dim[i] = Dim{Size: strconv.Itoa(d)}
	}
	return s
}
