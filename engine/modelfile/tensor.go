package modelfile

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// Dtype names as written in safetensors headers.
const (
	DTypeBool   = "BOOL"
	DTypeU8     = "U8"
	DTypeI8     = "I8"
	DTypeF8E5M2 = "F8_E5M2"
	DTypeF8E4M3 = "F8_E4M3"
	DTypeI16    = "I16"
	DTypeU16    = "U16"
	DTypeF16    = "F16"
	DTypeBF16   = "BF16"
	DTypeI32    = "I32"
	DTypeU32    = "U32"
	DTypeF32    = "F32"
	DTypeI64    = "I64"
	DTypeU64    = "U64"
	DTypeF64    = "F64"
)

var dtypeSizes = map[string]int{
	DTypeBool: 1, DTypeU8: 1, DTypeI8: 1, DTypeF8E5M2: 1, DTypeF8E4M3: 1,
	DTypeI16: 2, DTypeU16: 2, DTypeF16: 2, DTypeBF16: 2,
	DTypeI32: 4, DTypeU32: 4, DTypeF32: 4,
	DTypeI64: 8, DTypeU64: 8, DTypeF64: 8,
}

// DTypeSize returns the size in bytes of one element of dtype, and false for
// an unknown dtype.
func DTypeSize(dtype string) (int, bool) {
	n, ok := dtypeSizes[dtype]
	return n, ok
}

// Tensor is one named tensor: little-endian, row-major bytes in Data.
// Shape [] is a scalar (one element); a zero dim makes an empty tensor.
type Tensor struct {
	Name  string
	DType string
	Shape []int
	Data  []byte
}

// numElements returns the product of shape, or an error for a negative dim or
// a product that does not fit in an int (which no real buffer could hold).
func numElements(shape []int) (int, error) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dim %d in shape %v", d, shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return 0, fmt.Errorf("shape %v has too many elements", shape)
		}
		n = lo
	}
	return int(n), nil
}

// byteSize returns the bytes shape of dtype must occupy.
func byteSize(dtype string, shape []int) (int, error) {
	size, ok := dtypeSizes[dtype]
	if !ok {
		return 0, fmt.Errorf("unknown dtype %q", dtype)
	}
	n, err := numElements(shape)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt/size {
		return 0, fmt.Errorf("shape %v of %s is too large", shape, dtype)
	}
	return n * size, nil
}

// NumElements is the product of the shape (1 for a scalar), or -1 when the
// shape is invalid (a negative dim or an overflowing product).
func (t Tensor) NumElements() int {
	n, err := numElements(t.Shape)
	if err != nil {
		return -1
	}
	return n
}

// Check reports whether t is well formed: a valid name, a known dtype and
// len(Data) equal to the shape's element count times the dtype size.
func (t Tensor) Check() error {
	if err := checkName(t.Name); err != nil {
		return err
	}
	want, err := byteSize(t.DType, t.Shape)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if len(t.Data) != want {
		return fmt.Errorf("tensor %q: %s shape %v needs %d bytes, data has %d", t.Name, t.DType, t.Shape, want, len(t.Data))
	}
	return nil
}

func checkName(name string) error {
	switch name {
	case "":
		return fmt.Errorf("empty tensor name")
	case metadataKey:
		return fmt.Errorf("tensor name %q is reserved", name)
	}
	return nil
}

// F32Tensor encodes data as an F32 tensor. The shape is copied. A shape that
// does not match len(data) is not caught here; Write (and Check) reject it.
func F32Tensor(name string, shape []int, data []float32) Tensor {
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DType: DTypeF32, Shape: append([]int{}, shape...), Data: b}
}

// F16Tensor encodes data as an F16 (IEEE binary16) tensor, rounding to
// nearest even; values beyond ±65504 become ±Inf.
func F16Tensor(name string, shape []int, data []float32) Tensor {
	b := make([]byte, 2*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint16(b[2*i:], Float32ToF16(v))
	}
	return Tensor{Name: name, DType: DTypeF16, Shape: append([]int{}, shape...), Data: b}
}

// I8Tensor encodes data as an I8 tensor (quantized weights).
func I8Tensor(name string, shape []int, data []int8) Tensor {
	b := make([]byte, len(data))
	for i, v := range data {
		b[i] = byte(v)
	}
	return Tensor{Name: name, DType: DTypeI8, Shape: append([]int{}, shape...), Data: b}
}

// I32Tensor encodes data as an I32 tensor.
func I32Tensor(name string, shape []int, data []int32) Tensor {
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return Tensor{Name: name, DType: DTypeI32, Shape: append([]int{}, shape...), Data: b}
}

// U8Tensor makes a U8 tensor holding a copy of data.
func U8Tensor(name string, shape []int, data []uint8) Tensor {
	return Tensor{Name: name, DType: DTypeU8, Shape: append([]int{}, shape...), Data: append([]byte{}, data...)}
}

// Float32s decodes a float tensor (F32, F16, BF16 or F64) into a new slice.
func (t Tensor) Float32s() ([]float32, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	b := t.Data
	switch t.DType {
	case DTypeF32:
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out, nil
	case DTypeF16:
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = F16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return out, nil
	case DTypeBF16:
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
		return out, nil
	case DTypeF64:
		out := make([]float32, len(b)/8)
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
		return out, nil
	}
	return nil, fmt.Errorf("tensor %q has dtype %s, not a float dtype", t.Name, t.DType)
}

// Int8s returns a copy of an I8 tensor's values.
func (t Tensor) Int8s() ([]int8, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	if t.DType != DTypeI8 {
		return nil, fmt.Errorf("tensor %q has dtype %s, not I8", t.Name, t.DType)
	}
	out := make([]int8, len(t.Data))
	for i, v := range t.Data {
		out[i] = int8(v)
	}
	return out, nil
}

// Int32s decodes an I32 tensor into a new slice.
func (t Tensor) Int32s() ([]int32, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	if t.DType != DTypeI32 {
		return nil, fmt.Errorf("tensor %q has dtype %s, not I32", t.Name, t.DType)
	}
	out := make([]int32, len(t.Data)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// F16ToFloat32 converts an IEEE binary16 value (bits) to float32 exactly.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN; keep the payload.
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: mant·2^-24, exactly representable as a normal float32.
	e := uint32(113) // biased float32 exponent of 2^-14
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// Float32ToF16 converts f to IEEE binary16 bits, rounding to nearest even.
// NaN stays NaN (quiet); overflow gives ±Inf.
func Float32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign // rounds to ±0
		}
		// Subnormal: shift the full significand (with implicit 1) right.
		m := mant | 0x800000
		shift := uint32(14 - e)
		half := m >> shift
		rem := m & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry into the exponent, up to Inf: that is correct rounding
	}
	return sign | uint16(half)
}
