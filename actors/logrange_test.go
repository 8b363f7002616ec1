package actors

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// indexFoldASCII agrees with lower-casing both and strings.Index, on short random ASCII
// texts over a small alphabet (so that candidates and near misses are frequent).
func TestIndexFoldASCIIAgreesWithToLower(t *testing.T) {
	const alphabet = "aAbB-1 "
	r := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		s, q := word(r.IntN(24)), strings.ToLower(word(1+r.IntN(4)))
		if got, want := indexFoldASCII(s, q), strings.Index(strings.ToLower(s), q); got != want {
			t.Fatalf("indexFoldASCII(%q, %q) = %d, want %d", s, q, got, want)
		}
	}
	if indexFoldASCII("anything", "") != 0 {
		t.Fatal("an empty query matches at 0")
	}
}

// needsCleaning, eight bytes at a time, agrees with a byte at a time on texts that mix
// printable ASCII with every other byte at every offset.
func TestNeedsCleaningAgreesBytewise(t *testing.T) {
	for c := 0; c < 256; c++ {
		for at := 0; at < 20; at++ {
			b := []byte(strings.Repeat("printable ~ text!", 2))[:20]
			b[at] = byte(c)
			s := string(b)
			if got, want := needsCleaning(s), needsCleaningBytes(s); got != want {
				t.Fatalf("needsCleaning(%q) = %v, want %v", s, got, want)
			}
		}
	}
}

func BenchmarkFoldMatcher(b *testing.B) {
	messages := []string{"step 0000123: processed batch of records from shard 123 in 12 ms",
		"\x1b[32mok\x1b[0m step 0000130: \x1b[1mcommitted\x1b[0m 130 rows"}
	match := foldMatcher("never printed")
	for i := 0; i < b.N; i++ {
		if match(messages[i%2]) {
			b.Fatal("matched")
		}
	}
}
