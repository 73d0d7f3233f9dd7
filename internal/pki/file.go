package pki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes data to path so that readers see either the old file or the
// complete new one, never a partial write: it writes a temporary file in the same
// directory, syncs it, sets perm (regardless of umask) and renames it over path.
// Use 0o600 for private keys.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close() // already failed; the close error adds nothing
			_ = os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	// CreateTemp makes the file 0600; widen or keep it before any data lands in it.
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readPair reads a certificate and key file. exists is false when neither file exists.
func readPair(certFile, keyFile string) (certPEM, keyPEM []byte, exists bool, err error) {
	certPEM, certErr := os.ReadFile(certFile)
	keyPEM, keyErr := os.ReadFile(keyFile)
	switch {
	case errors.Is(certErr, os.ErrNotExist) || errors.Is(keyErr, os.ErrNotExist):
		return nil, nil, false, nil
	case certErr != nil:
		return nil, nil, true, certErr
	case keyErr != nil:
		return nil, nil, true, keyErr
	}
	return certPEM, keyPEM, true, nil
}
