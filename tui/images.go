package tui

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The Query screen's test-image picker reads MNIST's IDX files (the
// t10k-images-idx3-ubyte test images, gzipped or not, and the labels file
// beside them). Only what it shows is read: the first maxPickerImages
// images, each at most maxImageSide pixels a side.
const (
	maxPickerImages = 100
	maxImageSide    = 64
	idxImagesMagic  = 0x00000803 // unsigned bytes, 3 dimensions
	idxLabelsMagic  = 0x00000801 // unsigned bytes, 1 dimension
)

// testImage is one picker image: pixels scaled to [0,1] as the MNIST
// models were trained on (engine/data), and its true label (-1 unknown).
type testImage struct {
	rows, cols int
	pixels     []float32
	label      int
}

// loadTestImages reads up to n images from the IDX file at path and, when
// a labels file sits beside it (images-idx3 → labels-idx1 in the name),
// their labels.
func loadTestImages(path string, n int) ([]testImage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	imgs, err := decodeIDXImages(f, n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	lp := filepath.Join(filepath.Dir(path), strings.Replace(filepath.Base(path), "images-idx3", "labels-idx1", 1))
	if lp != path {
		if lf, err := os.Open(lp); err == nil {
			defer lf.Close()
			if labels, err := decodeIDXLabels(lf, len(imgs)); err == nil {
				for i := range imgs {
					if i < len(labels) {
						imgs[i].label = int(labels[i])
					}
				}
			}
		}
	}
	return imgs, nil
}

// maybeGunzip returns r, gunzipped when it starts with the gzip magic.
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(2)
	if bytes.Equal(head, []byte{0x1f, 0x8b}) {
		return gzip.NewReader(br)
	}
	return br, nil
}

// decodeIDXImages reads the header and the first n images of an IDX
// image file. It reads no more than n images' bytes, whatever the header
// claims.
func decodeIDXImages(r io.Reader, n int) ([]testImage, error) {
	r, err := maybeGunzip(r)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	var hdr [4]uint32
	if err := binary.Read(r, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("IDX header: %w", err)
	}
	if hdr[0] != idxImagesMagic {
		return nil, fmt.Errorf("not an IDX image file (magic %#08x, want %#08x)", hdr[0], idxImagesMagic)
	}
	count, rows, cols := hdr[1], hdr[2], hdr[3]
	if rows < 1 || cols < 1 || rows > maxImageSide || cols > maxImageSide {
		return nil, fmt.Errorf("images of %d×%d pixels: want 1 to %d a side", rows, cols, maxImageSide)
	}
	if count == 0 {
		return nil, errors.New("no images")
	}
	take := min(int(count), n)
	size := int(rows * cols)
	buf := make([]byte, size)
	out := make([]testImage, 0, take)
	for range take {
		if _, err := io.ReadFull(r, buf); err != nil {
			if len(out) > 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
				break // a truncated file still gives what it holds
			}
			return nil, fmt.Errorf("image %d: %w", len(out)+1, err)
		}
		px := make([]float32, size)
		for i, b := range buf {
			px[i] = float32(b) / 255
		}
		out = append(out, testImage{rows: int(rows), cols: int(cols), pixels: px, label: -1})
	}
	return out, nil
}

// decodeIDXLabels reads the first n labels of an IDX label file.
func decodeIDXLabels(r io.Reader, n int) ([]byte, error) {
	r, err := maybeGunzip(r)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	var hdr [2]uint32
	if err := binary.Read(r, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("IDX header: %w", err)
	}
	if hdr[0] != idxLabelsMagic {
		return nil, fmt.Errorf("not an IDX label file (magic %#08x)", hdr[0])
	}
	out := make([]byte, min(int(hdr[1]), n))
	k, err := io.ReadFull(r, out)
	if err != nil && k == 0 {
		return nil, err
	}
	return out[:k], nil
}

// brailleDots are the dot bits of a braille cell, by row (0-3) and
// column (0-1) of the pixel in the cell.
var brailleDots = [4][2]rune{{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}}

// renderImage draws an image in the terminal as braille, two by four
// pixels a cell (a pixel is a dot at half brightness or more), so 28×28
// takes 14×7 cells.
func renderImage(img testImage) []string {
	var out []string
	for r := 0; r < img.rows; r += 4 {
		var b strings.Builder
		b.WriteString("│")
		for c := 0; c < img.cols; c += 2 {
			cell := rune(0x2800)
			for dr := range 4 {
				for dc := range 2 {
					y, x := r+dr, c+dc
					if y < img.rows && x < img.cols && img.pixels[y*img.cols+x] >= 0.5 {
						cell |= brailleDots[dr][dc]
					}
				}
			}
			b.WriteRune(cell)
		}
		b.WriteString("│")
		out = append(out, b.String())
	}
	return out
}
