package ckpt

import "fmt"

// ReadMetadata returns the "__metadata__" string map of a safetensors file
// (empty, not nil, when the file has none) without reading the tensor data.
// The header is validated as Load validates it, so a truncated or
// inconsistent file is an error wrapping ErrCorrupt. A file that is not
// safetensors (a torch zip, TorchScript, ...) is an error wrapping
// ErrUnknownFormat. Errors name the path.
func ReadMetadata(path string) (map[string]string, error) {
	src, err := openSource(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	size := src.Size()
	head, err := src.slice(0, min(size, 16))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if isZip(head) || len(head) <= 8 || head[8] != '{' {
		return nil, fmt.Errorf("%s: not a safetensors file: %w", path, ErrUnknownFormat)
	}
	_, meta, _, err := parseSafetensorsHeader(path, src)
	if err != nil {
		return nil, err
	}
	if meta == nil {
		meta = map[string]string{}
	}
	return meta, nil
}
