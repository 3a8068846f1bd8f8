//go:build !unix

package formats

import "os"

// mapFile reads the whole file where mmap is not available.
func mapFile(path string, leave func(data []byte) []byteRange) (mappedFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return mappedFile{}, err
	}
	defer f.Close()
	return readAll(f, leave)
}
