package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Limits on IDX files.
const (
	MaxIDXDataBytes = 1 << 30 // decompressed payload after the header
	MaxIDXDims      = 8       // the format allows 255; real files use 1-4
	MaxIDXFileBytes = 1 << 30 // the file as stored (compressed or not)
)

// IDX element types (the third byte of the magic number).
const (
	IDXUint8   = 0x08
	IDXInt8    = 0x09
	IDXInt16   = 0x0B
	IDXInt32   = 0x0C
	IDXFloat32 = 0x0D
	IDXFloat64 = 0x0E
)

var idxElemSize = map[byte]int{IDXUint8: 1, IDXInt8: 1, IDXInt16: 2, IDXInt32: 4, IDXFloat32: 4, IDXFloat64: 8}

// IDX is a decoded IDX file: an n-dimensional array of big-endian elements.
type IDX struct {
	Type byte   // one of the IDX* element types
	Dims []int  // Dims[0] is usually the number of samples
	Data []byte // raw big-endian elements, product(Dims)*element size bytes
}

// ReadIDX reads an IDX file, gzip-compressed (detected by its magic bytes,
// whatever the name) or raw. Errors name the file.
func ReadIDX(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxIDXFileBytes {
		return nil, fmt.Errorf("%s: file is %d bytes, limit %d", path, st.Size(), MaxIDXFileBytes)
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := DecodeIDX(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// DecodeIDX decodes IDX bytes, gunzipping them first if they start with the
// gzip magic. It checks the magic number, element type, dimension count,
// size limits, and that the payload is exactly as long as the dims say.
func DecodeIDX(b []byte) (*IDX, error) {
	if len(b) > MaxIDXFileBytes {
		return nil, fmt.Errorf("idx: input is %d bytes, limit %d", len(b), MaxIDXFileBytes)
	}
	var r io.Reader
	compressed := len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b
	if compressed {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("idx: bad gzip header: %w", err)
		}
		r = zr
	} else {
		r = bytes.NewReader(b)
	}
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("idx: truncated: no 4-byte magic number (%w)", shortErr(err))
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("idx: bad magic %x: not an IDX file (first two bytes must be zero)", magic)
	}
	typ, ndim := magic[2], int(magic[3])
	esize, ok := idxElemSize[typ]
	if !ok {
		return nil, fmt.Errorf("idx: unknown element type 0x%02x in magic %x", typ, magic)
	}
	if ndim < 1 || ndim > MaxIDXDims {
		return nil, fmt.Errorf("idx: %d dimensions, want 1..%d", ndim, MaxIDXDims)
	}
	hdr := make([]byte, 4*ndim)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("idx: truncated in the header: %d dimensions need %d bytes (%w)", ndim, 4*ndim, shortErr(err))
	}
	dims := make([]int, ndim)
	size := uint64(esize)
	for i := range dims {
		d := binary.BigEndian.Uint32(hdr[4*i:])
		dims[i] = int(d)
		size *= uint64(d)
		if size > MaxIDXDataBytes {
			return nil, fmt.Errorf("idx: dims %v hold more than the %d-byte limit", dims[:i+1], MaxIDXDataBytes)
		}
	}
	if compressed {
		// DEFLATE expands at most ~1032:1; a header promising more than that
		// is corrupt, and we should not allocate for it.
		if size > 1040*uint64(len(b))+1024 {
			return nil, fmt.Errorf("idx: dims %v promise %d bytes, more than %d gzip bytes can hold: truncated or corrupt", dims, size, len(b))
		}
	} else if want := uint64(4+4*ndim) + size; uint64(len(b)) != want {
		if uint64(len(b)) < want {
			return nil, fmt.Errorf("idx: truncated: dims %v need %d data bytes, file has %d", dims, size, len(b)-4-4*ndim)
		}
		return nil, fmt.Errorf("idx: %d bytes after the data that dims %v describe", uint64(len(b))-want, dims)
	}
	data := make([]byte, size)
	if n, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("idx: truncated: dims %v need %d data bytes, found %d (%w)", dims, size, n, shortErr(err))
	}
	if compressed {
		// Read to the end so that gzip checks its CRC and length, and so
		// that extra data is noticed.
		var one [1]byte
		n, err := io.ReadFull(r, one[:])
		if n > 0 {
			return nil, fmt.Errorf("idx: data continues after the %d bytes that dims %v describe", size, dims)
		}
		if err != io.EOF {
			return nil, fmt.Errorf("idx: gzip: %w", err)
		}
	}
	return &IDX{Type: typ, Dims: dims, Data: data}, nil
}

func shortErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("unexpected end of data")
	}
	return err
}

// pixelScale maps a byte to float32(b)/255, the PyTorch reference's
// tensor.float() / 255.0.
var pixelScale = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return
}()

// LoadIDX reads an image file (uint8, dims N x ...) and a label file (uint8,
// dims N) into a Dataset: pixels in [0,1], Y the label as float32, Labels
// "0".."max label". A 3-d image file (N,H,W) gets SampleShape [1,H,W]
// (one channel, the layout conv2d expects); others keep Dims[1:].
func LoadIDX(imagesPath, labelsPath string) (*Dataset, error) {
	var img, lab *IDX
	var ierr, lerr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); lab, lerr = ReadIDX(labelsPath) }()
	img, ierr = ReadIDX(imagesPath)
	wg.Wait()
	if ierr != nil {
		return nil, ierr
	}
	if lerr != nil {
		return nil, lerr
	}
	if img.Type != IDXUint8 || len(img.Dims) < 2 {
		return nil, fmt.Errorf("%s: want uint8 images with dims N x ..., got type 0x%02x dims %v", imagesPath, img.Type, img.Dims)
	}
	if lab.Type != IDXUint8 || len(lab.Dims) != 1 {
		return nil, fmt.Errorf("%s: want uint8 labels with dims N, got type 0x%02x dims %v", labelsPath, lab.Type, lab.Dims)
	}
	n := img.Dims[0]
	if lab.Dims[0] != n {
		return nil, fmt.Errorf("%s has %d images but %s has %d labels", imagesPath, n, labelsPath, lab.Dims[0])
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: no images", imagesPath)
	}
	shape := append([]int(nil), img.Dims[1:]...)
	if len(shape) == 2 {
		shape = []int{1, shape[0], shape[1]}
	}
	d := &Dataset{X: make([]float32, len(img.Data)), Y: make([]float32, n), N: n, SampleShape: shape}
	scalePixels(d.X, img.Data)
	maxLabel := 0
	for i, l := range lab.Data {
		d.Y[i] = float32(l)
		maxLabel = max(maxLabel, int(l))
	}
	for i := 0; i <= maxLabel; i++ {
		d.Labels = append(d.Labels, strconv.Itoa(i))
	}
	return d, nil
}

func scalePixels(dst []float32, src []byte) {
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = pixelScale[b]
	}
}

// MNIST file names inside the folder given to LoadMNIST. Raw (un-gzipped)
// files with the same names minus ".gz" are used when the .gz ones are absent.
var MNISTFiles = [4]string{
	"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
	"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
}

// LoadMNIST reads the four standard MNIST files from dir: 60,000 training and
// 10,000 test images of 28x28 (SampleShape [1,28,28]), Labels "0".."9".
// The two halves load concurrently.
func LoadMNIST(dir string) (train, test *Dataset, err error) {
	p := func(i int) string {
		gz := filepath.Join(dir, MNISTFiles[i])
		if _, err := os.Stat(gz); err != nil {
			raw := gz[:len(gz)-len(".gz")]
			if _, err2 := os.Stat(raw); err2 == nil {
				return raw
			}
		}
		return gz
	}
	var terr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); test, terr = LoadIDX(p(2), p(3)) }()
	train, err = LoadIDX(p(0), p(1))
	wg.Wait()
	if err == nil {
		err = terr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("mnist: %w", err)
	}
	for _, d := range []*Dataset{train, test} {
		if len(d.SampleShape) != 3 || d.SampleShape[1] != 28 || d.SampleShape[2] != 28 || len(d.Labels) > 10 {
			return nil, nil, fmt.Errorf("mnist: %s: want 28x28 images with labels 0-9, got shape %v, %d classes", dir, d.SampleShape, len(d.Labels))
		}
		d.Labels = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	}
	return train, test, nil
}
