package modelfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Header is what a model file's header says, read without its tensor
// data: enough to weigh a model before loading it (a peer with a memory
// budget must refuse a model before it allocates it, and Read holds the
// whole file in memory).
type Header struct {
	// Tensors are sorted by name; Bytes is each one's stored size.
	Tensors []HeaderTensor
	Meta    map[string]string
	// HeaderBytes is the JSON header's length, FileBytes the whole file's.
	HeaderBytes int64
	FileBytes   int64
}

// HeaderTensor is one tensor of a Header.
type HeaderTensor struct {
	Name  string
	DType string
	Shape []int
	Bytes int64
}

// ReadHeader reads and checks the header of the model file at path: the
// header length and JSON as Read checks them, each tensor's span against
// its dtype and shape, and the spans' sum against the data the file holds.
// It reads the header only, so it neither checks the content hash nor
// that the spans tile the data (Read does both).
func ReadHeader(path string, lim Limits) (*Header, error) {
	lim = lim.withDefaults()
	fh, st, err := openRegular(path, lim)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var n [8]byte
	if _, err := io.ReadFull(fh, n[:]); err != nil {
		return nil, formatErr("%s: too short for the 8-byte header length", path)
	}
	hl := binary.LittleEndian.Uint64(n[:])
	if hl > uint64(lim.MaxHeaderSize) {
		return nil, fmt.Errorf("%w: %s: header length %d exceeds limit %d", ErrTooLarge, path, hl, lim.MaxHeaderSize)
	}
	if hl > uint64(st.Size()-8) {
		return nil, formatErr("%s: truncated header: header length %d but only %d bytes follow", path, hl, st.Size()-8)
	}
	b := make([]byte, 8+hl)
	copy(b, n[:])
	if _, err := io.ReadFull(fh, b[8:]); err != nil {
		return nil, fmt.Errorf("modelfile: read %s: %w", path, err)
	}
	h, err := DecodeHeader(b, st.Size(), lim)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// DecodeHeader parses the header at the start of b, the first bytes of a
// model file of fileBytes bytes (b may hold the whole file or only its
// header), with the checks ReadHeader makes.
func DecodeHeader(b []byte, fileBytes int64, lim Limits) (*Header, error) {
	lim = lim.withDefaults()
	if fileBytes > lim.MaxFileSize {
		return nil, fmt.Errorf("%w: file is %d bytes, limit %d", ErrTooLarge, fileBytes, lim.MaxFileSize)
	}
	if len(b) < 8 || fileBytes < 8 {
		return nil, formatErr("file is too short for the 8-byte header length")
	}
	if int64(len(b)) > fileBytes {
		return nil, formatErr("%d bytes given of a file of %d", len(b), fileBytes)
	}
	hl := binary.LittleEndian.Uint64(b)
	if hl > uint64(lim.MaxHeaderSize) {
		return nil, fmt.Errorf("%w: header length %d exceeds limit %d", ErrTooLarge, hl, lim.MaxHeaderSize)
	}
	if hl > uint64(len(b)-8) {
		return nil, formatErr("truncated header: header length %d but only %d bytes follow", hl, len(b)-8)
	}
	infos, meta, err := parseHeader(b[8 : 8+hl])
	if err != nil {
		return nil, err
	}
	data := uint64(fileBytes) - 8 - hl
	h := &Header{Meta: meta, HeaderBytes: int64(hl), FileBytes: fileBytes, Tensors: make([]HeaderTensor, 0, len(infos))}
	var sum uint64
	for _, in := range infos {
		if in.end < in.begin || in.end > data {
			return nil, formatErr("tensor %q: data_offsets [%d,%d] outside the %d bytes of data", in.name, in.begin, in.end, data)
		}
		size, err := byteSize(in.dtype, in.shape)
		if err != nil {
			return nil, formatErr("tensor %q: %v", in.name, err)
		}
		if uint64(size) != in.end-in.begin {
			return nil, formatErr("tensor %q: %s shape %v needs %d bytes, data_offsets [%d,%d] span %d", in.name, in.dtype, in.shape, size, in.begin, in.end, in.end-in.begin)
		}
		sum += uint64(size) // each <= data (<= MaxFileSize); the header bounds their count: no overflow
		h.Tensors = append(h.Tensors, HeaderTensor{Name: in.name, DType: in.dtype, Shape: in.shape, Bytes: int64(size)})
	}
	if sum != data {
		return nil, formatErr("the tensors span %d bytes, the file holds %d after its header", sum, data)
	}
	slices.SortFunc(h.Tensors, func(a, b HeaderTensor) int { return strings.Compare(a.Name, b.Name) })
	return h, nil
}
