package controlapi

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenFileName is the API token's file name inside a node's data dir.
const TokenFileName = "api.token"

// Token length bounds. The server writes 64 hex characters; the bounds reject
// an empty or truncated file and keep a huge one out of memory and headers.
const (
	minTokenLen  = 16
	maxTokenLen  = 512
	maxTokenFile = 4096
)

// TokenPath returns the token file's path inside dataDir.
func TokenPath(dataDir string) string {
	return filepath.Join(dataDir, TokenFileName)
}

// ReadTokenFile reads and validates an API token file: at most 4 KiB, one
// token of 16–512 visible ASCII characters, surrounding whitespace ignored.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", &missingTokenError{path: path, err: err}
		}
		return "", fmt.Errorf("read API token: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("read API token %s: %w", path, err)
	}
	if len(data) > maxTokenFile {
		return "", fmt.Errorf("API token file %s is %w (limit %d bytes)", path, ErrTooLarge, maxTokenFile)
	}
	tok, err := ParseToken(string(data))
	if err != nil {
		return "", fmt.Errorf("API token file %s: %w", path, err)
	}
	return tok, nil
}

// ParseToken trims whitespace from s and checks that it is a usable token.
func ParseToken(s string) (string, error) {
	tok := strings.TrimSpace(s)
	switch {
	case tok == "":
		return "", errors.New("token is empty")
	case len(tok) < minTokenLen:
		return "", fmt.Errorf("token is too short (%d characters, want at least %d)", len(tok), minTokenLen)
	case len(tok) > maxTokenLen:
		return "", fmt.Errorf("token is too long (%d characters, limit %d)", len(tok), maxTokenLen)
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c < 0x21 || c > 0x7e {
			return "", fmt.Errorf("token has a non-printable or non-ASCII byte at offset %d", i)
		}
	}
	return tok, nil
}

// missingTokenError says where the token was looked for and what to check,
// and still matches fs.ErrNotExist.
type missingTokenError struct {
	path string
	err  error
}

func (e *missingTokenError) Error() string {
	return fmt.Sprintf("no API token at %s (has `shoal up` run with this data dir? see --data-dir, SHOAL_DATA_DIR)", e.path)
}

func (e *missingTokenError) Unwrap() error { return e.err }
