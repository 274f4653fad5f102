package chat

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxNameRunes is the longest nickname or room name, in characters.
const MaxNameRunes = 32

// ServerName is the reserved sender name of server notices on text protocols.
const ServerName = "*"

// reserved holds name keys nobody may take; compared after NameKey, so
// "Server", "ＳＥＲＶＥＲ" and "server" are all refused.
var reserved = map[string]bool{
	"*": true, "server": true, "system": true, "parley": true, "admin": true,
	"administrator": true, "root": true, "operator": true, "moderator": true,
	"nickserv": true, "chanserv": true, "everyone": true, "here": true,
	"anonymous": true, "you": true, "me": true,
}

var folder = cases.Fold()

// NameKey returns the identity of a name for uniqueness: compatibility
// normalised (NFKC, so full-width and other look-alike forms collapse) and
// Unicode case folded. "Chloé", "CHLOÉ" and "ｃｈｌｏé" share one key.
func NameKey(name string) string {
	return folder.String(norm.NFKC.String(name))
}

// ValidateName checks a nickname and returns it in canonical form (NFC) with
// its key. Rules: 1 to 32 characters; Unicode letters, digits, marks and
// symbols (emoji included), '_', '-', '.'; a zero-width joiner only inside
// an emoji sequence; no whitespace or control characters; not reserved.
func ValidateName(name string) (display, key string, err error) {
	return validate(name, "name", CodeNameInvalid)
}

// ValidateRoom checks a room name ("dev" or "#dev") and returns the room key
// used everywhere (lower case, without '#').
func ValidateRoom(name string) (string, error) {
	name = strings.TrimPrefix(name, "#")
	_, key, err := validate(name, "room name", CodeRoomInvalid)
	return key, err
}

func validate(name, what string, code Code) (string, string, error) {
	if name == "" {
		return "", "", Errorf(code, "%s is empty", what)
	}
	if !utf8.ValidString(name) {
		return "", "", Errorf(code, "%s is not valid UTF-8", what)
	}
	name = norm.NFC.String(name)
	if n := utf8.RuneCountInString(name); n > MaxNameRunes {
		return "", "", Errorf(code, "%s is %d characters long; the limit is %d", what, n, MaxNameRunes)
	}
	key := NameKey(name)
	if code == CodeNameInvalid && reserved[key] {
		return "", "", Errorf(CodeNameReserved, "%q is reserved", name)
	}
	runes := []rune(name)
	for i, r := range runes {
		if ok := nameRune(r); ok {
			continue
		}
		if r == '\u200d' && i > 0 && i < len(runes)-1 && emojiPart(runes[i-1]) && emojiPart(runes[i+1]) {
			continue // zero-width joiner inside an emoji sequence such as 👩‍💻
		}
		switch {
		case unicode.IsSpace(r):
			return "", "", Errorf(code, "%s may not contain spaces", what)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return "", "", Errorf(code, "%s may not contain control or invisible characters", what)
		default:
			return "", "", Errorf(code, "%s may not contain %q; use letters, digits, symbols, '_', '-' or '.'", what, r)
		}
	}
	if code == CodeNameInvalid && reserved[strings.Trim(key, "_-.")] {
		return "", "", Errorf(CodeNameReserved, "%q is too close to a reserved name", name)
	}
	return name, key, nil
}

func nameRune(r rune) bool {
	switch r {
	case '_', '-', '.':
		return true
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || unicode.IsSymbol(r) ||
		unicode.Is(unicode.Nl, r) || unicode.Is(unicode.No, r)
}

func emojiPart(r rune) bool {
	return unicode.IsSymbol(r) || unicode.IsMark(r) || r == '\u200d'
}
