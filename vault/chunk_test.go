package vault

import (
	"bytes"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Messages around every chunk size's edge seal and open to the same bytes,
// and a message smaller than a chunk is sealed with a smaller chunk: the
// SEIPDv2 header's chunk-size octet (RFC 9580 5.13.2) says 2^(c+6).
func TestEncryptMessageChunkSizes(t *testing.T) {
	key := randomBytes(sessionKeySize)
	for _, c := range []struct{ size, chunk int }{
		{1, 1 << 10}, {960, 1 << 10}, {961, 1 << 11}, {2048, 1 << 12}, {4032, 1 << 12}, {4033, 1 << 13},
		{16320, 1 << 14}, {16321, 1 << 14}, {65536, 1 << 14}, {200000, 1 << 14},
	} {
		raw := bytes.Repeat([]byte("Hej! "), c.size/5+1)[:c.size]
		ct, err := encryptMessage(raw, key)
		if err != nil {
			t.Fatal(err)
		}
		// Packet tag 18 (new format: 0xd2), a length, version 2, cipher, mode, chunk octet.
		i := 2
		switch l := ct[1]; {
		case l >= 192 && l < 224:
			i = 3
		case l == 255:
			i = 6
		}
		if ct[0] != 0xd2 || ct[i] != 2 {
			t.Fatalf("%d bytes: not a SEIPDv2 packet: % x", c.size, ct[:8])
		}
		if got := 1 << (ct[i+3] + 6); got != c.chunk {
			t.Errorf("%d bytes sealed in chunks of %d; want %d", c.size, got, c.chunk)
		}
		back, err := decryptMessage(ct, key)
		if err != nil || !bytes.Equal(back, raw) {
			t.Errorf("%d bytes: open: %v, equal %t", c.size, err, bytes.Equal(back, raw))
		}
	}
}

// A message sealed as main sealed every message, in 16 KiB chunks
// whatever its size, still opens: the reader takes the chunk size from
// the packet.
func TestSmallMessageSealedInWholeChunksOpens(t *testing.T) {
	key := randomBytes(sessionKeySize)
	raw := []byte("Subject: kvitto\r\n\r\nHej!\r\n")
	var buf bytes.Buffer
	enc, err := packet.SerializeSymmetricallyEncrypted(&buf, cipherSuite.Cipher, true, cipherSuite, key, pgpConfigs[aeadChunkSize])
	if err != nil {
		t.Fatal(err)
	}
	lit, err := packet.SerializeLiteral(enc, true, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lit.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := lit.Close(); err != nil {
		t.Fatal(err)
	}
	back, err := decryptMessage(buf.Bytes(), key)
	if err != nil || !bytes.Equal(back, raw) {
		t.Fatalf("open: %v, equal %t", err, bytes.Equal(back, raw))
	}
}
