package journaltest

import "os"

// DamageMidFile flips 8 bytes in the middle of the file at path, as a bad disk or a stray
// write does.
func DamageMidFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for i := len(b) / 2; i < len(b)/2+8 && i < len(b); i++ {
		b[i] ^= 0xff
	}
	return os.WriteFile(path, b, 0o600)
}
