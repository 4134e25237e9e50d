package bankid

// BaseURL is the RP API base a client sends to, for the external tests.
func BaseURL(c *Client) string { return c.base.String() }

// ParseError reads an error answer as the client does, for the external
// tests that send a request by other means.
func ParseError(op string, status int, body []byte) *APIError { return parseError(op, status, body) }
