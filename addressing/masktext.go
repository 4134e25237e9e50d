package addressing

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaskPersonalNumbers is text fit for a log: every personal number
// FindPersonalNumber would find in it masked (see Mask), the rest as is.
// Logs take strings from outside — a username, an envelope sender, a
// provider's or BankID's error text — and any of them may carry a number.
//
// The text is read in chunks: runs of digits joined by anything but letters
// (spaces, dashes, dots, '@'...). In a chunk where FindPersonalNumber finds a
// number, the fewest neighbouring runs that make up a number are replaced by
// it masked, the shortest first; should the chunk still hold one after
// that, every digit in it is starred.
func MaskPersonalNumbers(text string) string {
	if _, found := FindPersonalNumber(text); !found {
		return text
	}
	var out strings.Builder
	rest := text
	for {
		start, end := nextNumberChunk(rest)
		if start < 0 {
			break
		}
		out.WriteString(rest[:start])
		out.WriteString(maskChunk(rest[start:end]))
		rest = rest[end:]
	}
	out.WriteString(rest)
	return out.String()
}

// maxGroups is the most digit runs one written number spans: year, month,
// day and serial ("1999 08 07 2391").
const maxGroups = 4

func maskChunk(chunk string) string {
	if _, found := FindPersonalNumber(chunk); !found {
		return chunk
	}
	groups := numberRuns(chunk)
	replaced := make([]string, len(groups)) // the masked number, at the window's first run
	taken := make([]bool, len(groups))
	for size := 1; size <= maxGroups; size++ {
	window:
		for i := 0; i+size <= len(groups); i++ {
			for k := i; k < i+size; k++ {
				if taken[k] {
					continue window
				}
			}
			w := chunk[groups[i][0]:groups[i+size-1][1]]
			if masked, found := FindPersonalNumber(w); found {
				replaced[i] = masked
				for k := i; k < i+size; k++ {
					taken[k] = true
				}
			}
		}
	}
	var out strings.Builder
	at := 0
	for i := 0; i < len(groups); i++ {
		if replaced[i] == "" {
			continue
		}
		j := i
		for j+1 < len(groups) && taken[j+1] && replaced[j+1] == "" {
			j++
		}
		out.WriteString(chunk[at:groups[i][0]])
		out.WriteString(replaced[i])
		at = groups[j][1]
	}
	out.WriteString(chunk[at:])
	s := out.String()
	if _, found := FindPersonalNumber(s); found {
		return strings.Map(func(r rune) rune {
			if unicode.IsNumber(r) {
				return '*'
			}
			return r
		}, chunk)
	}
	return s
}

// nextNumberChunk finds the first chunk of s: from a digit to the last digit
// before a letter (or the end). A letter that shows nothing (a Hangul filler,
// see invisible) does not end a chunk. start is -1 when s has no digit.
func nextNumberChunk(s string) (start, end int) {
	start = strings.IndexFunc(s, unicode.IsNumber)
	if start < 0 {
		return -1, -1
	}
	end = start
	for i := start; i < len(s); {
		r, width := utf8.DecodeRuneInString(s[i:])
		if unicode.IsLetter(r) && !invisible(r) {
			break
		}
		i += width
		if unicode.IsNumber(r) {
			end = i
		}
	}
	return start, end
}

// numberRuns are the [start, end) byte offsets of s's runs of digits; what
// shows nothing between two digits (see invisible) does not part a run.
func numberRuns(s string) [][2]int {
	var runs [][2]int
	in := false
	for i, r := range s {
		switch isNum := unicode.IsNumber(r); {
		case isNum && !in:
			runs = append(runs, [2]int{i, i + utf8.RuneLen(r)})
			in = true
		case isNum:
			runs[len(runs)-1][1] = i + utf8.RuneLen(r)
		case in && invisible(r):
		default:
			in = false
		}
	}
	return runs
}
