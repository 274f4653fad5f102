package chat

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
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

// reservedSkeletons are the confusable skeletons of the reserved names.
var reservedSkeletons = func() map[string]bool {
	m := make(map[string]bool, len(reserved))
	for k := range reserved {
		m[NameSkeleton(k)] = true
	}
	return m
}()

// NameKey returns the identity of a name: compatibility normalised (NFKC,
// so full-width and other compatibility forms collapse) and Unicode case
// folded. "Chloé", "CHLOÉ" and "ｃｈｌｏé" share one key. Stored direct
// messages are found by it.
func NameKey(name string) string {
	return folder.String(norm.NFKC.String(name))
}

// NameSkeleton returns what a name looks like, for look-alike detection:
// the UTS #39 confusable skeleton (Unicode's confusables.txt, through
// github.com/mtibben/confusables) of its key. "alice", "аlice" (with a
// Cyrillic а) and "ALICE" share one; so do "server" and "ѕеrvеr". Two
// sessions may not hold names with the same skeleton, and no name may
// look like a reserved one.
func NameSkeleton(name string) string {
	return confusables.Skeleton(NameKey(name))
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
	if code == CodeNameInvalid && (reserved[key] || reservedSkeletons[NameSkeleton(name)]) {
		return "", "", Errorf(CodeNameReserved, "%q is reserved, or looks like a reserved name", name)
	}
	runes := []rune(name)
	visible := false
	for i, r := range runes {
		if r == '\u200d' && i > 0 && i < len(runes)-1 && emoji(runes[i-1]) && emoji(runes[i+1]) {
			continue // zero-width joiner inside an emoji sequence such as 👩‍💻
		}
		switch {
		case unicode.IsSpace(r):
			return "", "", Errorf(code, "%s may not contain spaces", what)
		case unicode.IsControl(r) || invisible(r):
			return "", "", Errorf(code, "%s may not contain control or invisible characters", what)
		case !nameRune(r):
			return "", "", Errorf(code, "%s may not contain %q; use letters, digits, symbols, '_', '-' or '.'", what, r)
		}
		visible = visible || unicode.IsLetter(r) || unicode.IsDigit(r) || emoji(r)
	}
	if !visible {
		return "", "", Errorf(code, "%s needs a letter, a digit or an emoji", what)
	}
	if scripts := mixedScripts(runes); scripts != "" {
		return "", "", Errorf(code, "%s mixes scripts (%s), which makes it look like another; use one script, with digits and symbols", what, scripts)
	}
	if code == CodeNameInvalid && (reserved[strings.Trim(key, "_-.")] || reservedSkeletons[confusables.Skeleton(strings.Trim(key, "_-."))]) {
		return "", "", Errorf(CodeNameReserved, "%q is too close to a reserved name", name)
	}
	return name, key, nil
}

// invisible reports whether r shows nothing, or nothing of its own: the
// Default_Ignorable_Code_Point property (other ignorables such as U+034F
// and the Hangul fillers, variation selectors, format characters) and
// characters that render as a blank, such as the braille blank U+2800.
func invisible(r rune) bool {
	return unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || unicode.Is(unicode.Variation_Selector, r) ||
		unicode.Is(unicode.Cf, r) || r == '\u2800'
}

// emoji reports whether r is an emoji picture (the blocks of
// Extended_Pictographic characters that name rules allow on their own).
func emoji(r rune) bool {
	return r >= 0x1f000 && r <= 0x1faff || r >= 0x2600 && r <= 0x26ff
}

// scriptSets are the combinations of scripts a name may mix (UTS #39's
// "highly restrictive" level): one script, or Latin with the scripts of
// Japanese, Chinese or Korean writing.
var scriptSets = []map[string]bool{
	{"Latin": true, "Han": true, "Hiragana": true, "Katakana": true},
	{"Latin": true, "Han": true, "Bopomofo": true},
	{"Latin": true, "Han": true, "Hangul": true},
}

// mixedScripts returns the scripts a name mixes ("Cyrillic, Latin") if no
// allowed combination holds them all, or "". Common and Inherited
// characters (digits, punctuation, marks, emoji) belong to every script.
func mixedScripts(runes []rune) string {
	seen := map[string]bool{}
	for _, r := range runes {
		if s := scriptOf(r); s != "Common" && s != "Inherited" {
			seen[s] = true
		}
	}
	if len(seen) <= 1 {
		return ""
	}
	for _, set := range scriptSets {
		ok := true
		for s := range seen {
			ok = ok && set[s]
		}
		if ok {
			return ""
		}
	}
	names := make([]string, 0, len(seen))
	for s := range seen {
		names = append(names, s)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// scriptOf returns the name of r's Unicode script.
func scriptOf(r rune) string {
	switch {
	case r < 0x80:
		if unicode.IsLetter(r) {
			return "Latin"
		}
		return "Common"
	case unicode.Is(unicode.Latin, r):
		return "Latin"
	case unicode.Is(unicode.Common, r):
		return "Common"
	case unicode.Is(unicode.Inherited, r):
		return "Inherited"
	}
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name
		}
	}
	return "Unknown"
}

func nameRune(r rune) bool {
	switch r {
	case '_', '-', '.':
		return true
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || unicode.IsSymbol(r) ||
		unicode.Is(unicode.Nl, r) || unicode.Is(unicode.No, r)
}
