package authenticator

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"golang.org/x/crypto/argon2"
)

// FileKeyStore keeps each key in a file of its own under Dir, its private scalar
// encrypted with AES-256-GCM under a key derived from the passphrase with Argon2id
// (a random salt per file; the alias is bound as additional data). Opened keys stay in
// memory for the life of the store.
type FileKeyStore struct {
	dir        string
	passphrase []byte

	mu     sync.Mutex
	opened map[string]*ecdsa.PrivateKey
}

// Argon2id parameters for key files: OWASP's minimum (19 MiB, t=2, p=1), which a phone
// runs in well under a second; RFC 9106's recommendations ask more memory.
const (
	fileKDFTime    = 2
	fileKDFMemory  = 19 * 1024
	fileKDFThreads = 1
)

// NewFileKeyStore returns a FileKeyStore over dir (created 0700 if missing). The
// passphrase must not be empty.
func NewFileKeyStore(dir, passphrase string) (*FileKeyStore, error) {
	if passphrase == "" {
		return nil, errors.New("authenticator: the key store passphrase is empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("authenticator: key store directory: %w", err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("authenticator: key store directory: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("authenticator: key store directory %s is open to other users (mode %o); chmod 700 it", dir, info.Mode().Perm())
	}
	f := &FileKeyStore{dir: dir, passphrase: []byte(passphrase), opened: map[string]*ecdsa.PrivateKey{}}
	if err := f.checkPassphrase(); err != nil {
		return nil, err
	}
	return f, nil
}

// checkFile holds a value sealed under the store's passphrase, made with the store: a
// wrong passphrase is refused when the store opens, not after new keys were sealed
// under it.
const checkFile = "passphrase.check"

var checkPlaintext = []byte("signet authenticator key store")

func (f *FileKeyStore) checkPassphrase() error {
	p := filepath.Join(f.dir, checkFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		sealed, err := f.seal(checkFile, checkPlaintext)
		if err != nil {
			return err
		}
		return writeNew(p, sealed)
	}
	if err != nil {
		return err
	}
	if _, err := f.unseal(checkFile, b); err != nil {
		return errors.New("authenticator: wrong passphrase for this key store")
	}
	return nil
}

var aliasPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

type keyFile struct {
	Version int    `json:"v"`
	KDF     string `json:"kdf"`
	Time    uint32 `json:"t"`
	Memory  uint32 `json:"m"`
	Threads uint8  `json:"p"`
	Salt    []byte `json:"salt"`
	Nonce   []byte `json:"nonce"`
	Sealed  []byte `json:"sealed"`
}

func (f *FileKeyStore) path(alias string) (string, error) {
	if !aliasPattern.MatchString(alias) || alias == "." || alias == ".." {
		return "", fmt.Errorf("authenticator: alias %q is not a plain name", alias)
	}
	return filepath.Join(f.dir, alias+".key"), nil
}

func (f *FileKeyStore) aead(salt []byte, t, m uint32, p uint8) (cipher.AEAD, error) {
	block, err := aes.NewCipher(argon2.IDKey(f.passphrase, salt, t, m, p, 32))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (f *FileKeyStore) GenerateKey(alias string) ([]byte, error) {
	p, err := f.path(alias)
	if err != nil {
		return nil, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	scalar, err := k.Bytes()
	if err != nil {
		return nil, err
	}
	sealed, err := f.seal(alias, scalar)
	if err != nil {
		return nil, err
	}
	if err := writeNew(p, sealed); err != nil {
		return nil, fmt.Errorf("authenticator: write key: %w", err)
	}
	f.mu.Lock()
	f.opened[alias] = k
	f.mu.Unlock()
	return k.PublicKey.Bytes()
}

// seal encrypts plaintext under the passphrase, bound to name, as a key file.
func (f *FileKeyStore) seal(name string, plaintext []byte) ([]byte, error) {
	kf := keyFile{Version: 1, KDF: "argon2id", Time: fileKDFTime, Memory: fileKDFMemory, Threads: fileKDFThreads,
		Salt: make([]byte, 16), Nonce: make([]byte, 12)}
	_, _ = rand.Read(kf.Salt)
	_, _ = rand.Read(kf.Nonce)
	aead, err := f.aead(kf.Salt, kf.Time, kf.Memory, kf.Threads)
	if err != nil {
		return nil, err
	}
	kf.Sealed = aead.Seal(nil, kf.Nonce, plaintext, []byte(name))
	return json.Marshal(kf)
}

// unseal opens what seal made for name.
func (f *FileKeyStore) unseal(name string, b []byte) ([]byte, error) {
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil || kf.Version != 1 || kf.KDF != "argon2id" || len(kf.Nonce) != 12 ||
		kf.Time == 0 || kf.Time > 16 || kf.Memory > 256<<10 || kf.Threads == 0 {
		return nil, errors.New("authenticator: not a key file this version reads")
	}
	aead, err := f.aead(kf.Salt, kf.Time, kf.Memory, kf.Threads)
	if err != nil {
		return nil, err
	}
	return aead.Open(nil, kf.Nonce, kf.Sealed, []byte(name))
}

// writeNew writes a new file of mode 0600; an existing one is never overwritten.
func writeNew(p string, b []byte) error {
	file, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := file.Write(b); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

func (f *FileKeyStore) open(alias string) (*ecdsa.PrivateKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k, ok := f.opened[alias]; ok {
		return k, nil
	}
	p, err := f.path(alias)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoKey
	}
	if err != nil {
		return nil, err
	}
	scalar, err := f.unseal(alias, b)
	if err != nil {
		return nil, fmt.Errorf("authenticator: key file %s: wrong passphrase, or the file was changed", p)
	}
	if _, err := ecdh.P256().NewPrivateKey(scalar); err != nil {
		return nil, fmt.Errorf("authenticator: key file %s holds no P-256 key", p)
	}
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar)
	if err != nil {
		return nil, err
	}
	f.opened[alias] = k
	return k, nil
}

func (f *FileKeyStore) PublicKey(alias string) ([]byte, error) {
	k, err := f.open(alias)
	if err != nil {
		return nil, err
	}
	return k.PublicKey.Bytes()
}

func (f *FileKeyStore) SignDigest(alias string, digest []byte) ([]byte, error) {
	k, err := f.open(alias)
	if err != nil {
		return nil, err
	}
	return ecdsa.SignASN1(rand.Reader, k, digest)
}

func (f *FileKeyStore) DeleteKey(alias string) error {
	p, err := f.path(alias)
	if err != nil {
		return err
	}
	f.mu.Lock()
	delete(f.opened, alias)
	f.mu.Unlock()
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
