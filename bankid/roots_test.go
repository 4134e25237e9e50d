package bankid

import "testing"

func TestPinnedRoots(t *testing.T) {
	for env, cn := range map[Environment]string{Test: "Test BankID SSL Root CA v1 Test", Production: "BankID SSL Root CA v1"} {
		pin := pinnedRoots[env]
		cert, err := pinnedRootCert(pin)
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		if cert.Subject.CommonName != cn || cert.Subject.Organization[0] != "Finansiell ID-Teknik BID AB" || !cert.IsCA {
			t.Errorf("%s root = %v", env, cert.Subject)
		}
		if err := cert.CheckSignatureFrom(cert); err != nil {
			t.Errorf("%s root is not self-signed: %v", env, err)
		}
		if cert.NotAfter.Year() != 2034 {
			t.Errorf("%s root expires %v", env, cert.NotAfter)
		}
		if _, err := rootPool(env); err != nil {
			t.Errorf("rootPool(%s): %v", env, err)
		}
		tampered := pin
		tampered.fingerprint = "00" + pin.fingerprint[2:]
		if _, err := pinnedRootCert(tampered); err == nil {
			t.Errorf("%s: a root with another fingerprint was accepted", env)
		}
	}
	if _, err := rootPool("staging"); err == nil {
		t.Error("rootPool accepted an unknown environment")
	}
	if _, err := pinnedRootCert(pinnedRoot{file: "roots/missing.pem"}); err == nil {
		t.Error("a missing root file was accepted")
	}
}
