package config

import "time"

// Duration is a TOML string such as "720h". Decoding never fails on a bad
// value: the text is kept so that Validate can name the key and say how to
// write it, which go-toml's own error could not.
type Duration struct {
	time.Duration
	text string
	bad  bool
}

func durationOf(d time.Duration) Duration { return Duration{Duration: d, text: d.String()} }

func (d *Duration) UnmarshalText(b []byte) error {
	d.text = string(b)
	v, err := time.ParseDuration(d.text)
	d.Duration, d.bad = v, err != nil
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.text), nil }
