package smtpd

import "github.com/emersion/go-sasl"

// loginServer is the LOGIN mechanism, which go-sasl has only as a client.
// Outlook offers nothing else on many setups. It is not a standard (an
// expired draft, draft-murchison-sasl-login), but the exchange is fixed:
// "Username:" and "Password:" challenges, each answered in base64.
type loginServer struct {
	username     string
	haveUsername bool
	authenticate func(username, password string) error
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch {
	case !l.haveUsername && response == nil:
		return []byte("Username:"), false, nil
	case !l.haveUsername:
		l.username, l.haveUsername = string(response), true
		return []byte("Password:"), false, nil
	case response == nil:
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.authenticate(l.username, string(response))
	}
}

var _ sasl.Server = (*loginServer)(nil)
