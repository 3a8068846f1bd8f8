//go:build unix

package formats

import (
	"errors"
	"os"
)

// mapFile gives the whole file's bytes, read-only. The file is mapped; by
// default (readResident) its bytes are then read into anonymous memory
// advised for transparent huge pages, at the same addresses, except the
// byte ranges that leave names (called once on the mapped bytes, before
// anything is read: tensors a model only looks rows up in), which stay
// mapped and are read through mappedFile.Disk. With $LOOM_MMAP=1, or where
// that is refused, the whole file stays mapped, so weights are views on the
// page cache and opening a multi-GiB model costs page-table entries, not a
// copy. Where mmap fails too (a pipe, a filesystem without it) the file is
// read into the Go heap.
func mapFile(path string, leave func(data []byte) []byteRange) (mappedFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return mappedFile{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return mappedFile{}, err
	}
	size := st.Size()
	if size > 0 && size == int64(int(size)) && st.Mode().IsRegular() {
		if data, unmap, err := mapAligned(f, int(size)); err == nil {
			var keep []byteRange
			if leave != nil {
				keep = leave(data)
			}
			m := mappedFile{Data: data, close: unmap}
			left := false
			if os.Getenv(MmapEnv) != "1" {
				if left, m.private, err = readResident(f, data, keep); err != nil {
					return mappedFile{}, errors.Join(err, unmap(), f.Close())
				}
			}
			if !left {
				return m, f.Close()
			}
			m.Disk = f
			m.close = func() error { return errors.Join(unmap(), f.Close()) }
			return m, nil
		}
	}
	defer f.Close()
	return readAll(f, leave)
}
