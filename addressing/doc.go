// Package addressing owns the recipient-address grammar of the spec's
// addressing.md: what one RCPT TO address at a gateway
// domain means (a Recipient: channel, destination, who may open, language),
// why an address is refused (a Refusal, with its SMTP reply), and the
// Swedish personal numbers and phone numbers inside an address. It also owns
// the rules for personal numbers elsewhere: Mask for logs and
// FindPersonalNumber for a Subject that would travel in clear by SMS.
//
// Decisions beyond addressing.md, all visible to a sender, follow.
//
// # Address and domain
//
//   - Parse takes "local@domain" and splits on the last '@'; surrounding
//     spaces and one pair of <> are dropped, and a local part still in quotes
//     is unquoted. An address without '@' is refused ("no domain"); a bare
//     local part is read with ParseLocal (what `sigill addr` does for input
//     without '@').
//   - The domain is checked first: one that is not a gateway domain (compared
//     without case and without a trailing dot) is 550 5.7.1 whatever the
//     local part says. Every other refusal is 550 5.1.3.
//
// # Local part
//
//   - The target ends at the first '&' or '?'; after it, '&' and '?' are
//     interchangeable separators. Empty segments ("&&"), a trailing separator
//     and spaces around a segment, a key or a value are ignored.
//   - Keys and the lang value are case-insensitive (LOGIN=, lang=EN). lang,
//     exp and reply given twice with different values are refused; the same
//     value twice counts once (exp=7d&exp=168h is one lifetime).
//   - A segment without '=' is refused; if it looks like a number the reply
//     suggests login=<it>. An unknown key is refused with the known keys and,
//     for a near miss, "did you mean 'login'?".
//
// # exp= and reply=
//
//   - exp= is 1 to 4 ASCII digits and a unit, m, h, d or w in either case,
//     except 'M', refused as a likely "months". Zero is refused. The limit
//     is Policy.MaxLifetime (vault.max_retention); the refusal names it.
//     Recipient.Exp keeps the lifetime (168h and 7d are one value), written
//     back in days, hours or minutes (LocalPart, JSON "exp":"7d").
//   - exp= is per address, as every key is; what one message with several
//     lifetimes means is the vault's decision (the shortest: see vault).
//   - reply= is yes or no in either case; Recipient.Reply keeps the choice
//     ("" when not given), Replies.Allowed says what it means (yes unless
//     no).
//
// # Phone numbers
//
//   - Digits with '-' and spaces; '+' or a leading "00" marks the
//     international form, so a foreign mobile number works when written with
//     its country code. Accepted: MOBILE, and FIXED_LINE_OR_MOBILE (numbering
//     plans such as the US one that do not tell the two apart). Everything
//     else, landlines included, is refused. Stored in E.164. A national
//     number that is not valid in the region is tried once more with '+'
//     ("46701234567").
//
// # E-mail targets
//
//   - The last '=', '%' or '@' of the target stands for '@'. The name must be
//     an unquoted ASCII dot-atom of at most 64 characters; names with '&',
//     '?' or non-ASCII letters cannot be written. The domain must be a host
//     name with a dot; an international domain is stored in its xn-- form,
//     and every domain lowercased. An address at one of the gateway's own
//     domains is refused (the notification would loop back).
//
// # Logins
//
//   - Personal numbers: a 12-digit form with '+' is refused (the '+' belongs
//     to the 10-digit form only); a 12-digit year must begin with 18, 19 or
//     20; a birth date after today is refused; date faults are reported
//     before a wrong check digit. The check-digit reply names the expected
//     digit but asks for the whole number to be checked, since the mistyped
//     digit may be any of them.
//   - login=YYYYMMDD* and login=YYMMDD* are checked like a personal number's
//     date (samordningsnummer day + 60 included) and kept as written, since
//     Allows compares them with the first eight digits of the number BankID
//     returns.
//   - Numbers and birth dates given twice count once; MaxLogins limits the
//     distinct numbers plus birth dates ('*' does not count).
//   - A recipient without login= is refused unless Policy.DefaultLogin is
//     "*"; any other DefaultLogin is treated as "" (config validates it).
//   - "Today" for the century rule is the date of Policy.Now in its own
//     location.
//
// # Replies
//
//   - Each reason names the fault and the mend. Pieces of the address that a
//     reason repeats are cut to 64 characters, with control characters
//     shown as '?'; Refusal.Text shows control characters in the address as
//     '?' too, so a reply is always one line.
//
// # FindPersonalNumber
//
//   - Flags the first personal-number shaped string (check digit not
//     required), except a bare 10-digit run that is a valid Swedish phone
//     number in national form (0701234567) and fails the check digit. It
//     also flags YYYYMMDD+NNNN, a form ParsePersonalNumber refuses.
//   - It reads the text as a person would: after NFKC, any script's decimal
//     digits, dashes and spaces count as ASCII ones ("１９９９０８０７２３９１",
//     "١٩٩٩٠٨٠٧-٢٣٩١"), any white space or control character (TAB, VT,
//     NEL...) as a space, and what shows nothing between digits not at all:
//     format characters, combining and enclosing marks (U+0301, U+FE0F,
//     the keycap U+20E3) and other default-ignorable code points (U+034F,
//     the Hangul fillers U+3164 and U+FFA0).
//   - Digit groups parted by spaces or punctuation ("1999 08 07 2391",
//     "99.08.07/2391") count only when every part falls where the number's
//     year, month, day and serial meet, the date exists and the check digit is
//     right, so dates, times and phone numbers pass ("Tid 2024-05-12 kl 10",
//     "2024-05-12 10:30", "070-123 45 67").
package addressing
