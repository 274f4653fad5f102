package chat

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		code Code // "" = valid
	}{
		{"alice", ""},
		{"王芳", ""},
		{"Chloé🌸", ""},
		{"👩‍💻", ""},                      // ZWJ inside an emoji sequence
		{"al\u200dice", CodeNameInvalid}, // ZWJ between letters: invisible
		{"d.j-k_9", ""},
		{"Ωμέγα", ""},
		{strings.Repeat("x", 32), ""},
		{strings.Repeat("x", 33), CodeNameInvalid},
		{strings.Repeat("界", 32), ""},
		{"", CodeNameInvalid},
		{"two words", CodeNameInvalid},
		{"tab\there", CodeNameInvalid},
		{"esc\x1b", CodeNameInvalid},
		{"nul\x00", CodeNameInvalid},
		{"c1\u0085", CodeNameInvalid},
		{"rtl\u202e", CodeNameInvalid},
		{"bad\xff", CodeNameInvalid},
		{"a@b", CodeNameInvalid},
		{"{json}", CodeNameInvalid},
		{"*", CodeNameReserved},
		{"server", CodeNameReserved},
		{"Server", CodeNameReserved},
		{"SERVER", CodeNameReserved},
		{"ｓｅｒｖｅｒ", CodeNameReserved}, // full-width look-alike
		{"_server_", CodeNameReserved},
		{"ServeR.", CodeNameReserved},
		{"servers", ""},
		// Look-alikes of reserved names, in other scripts (UTS #39 skeletons).
		{"\u0430dmin", CodeNameReserved},                                         // Cyrillic а
		{"\u0455\u0435rv\u0435r", CodeNameReserved},                              // Cyrillic ѕ, е
		{"r\u03bf\u03bft", CodeNameReserved},                                     // Greek ο
		{"\u2217", CodeNameReserved},                                             // ∗ ASTERISK OPERATOR, passing for the notice sender
		{"\U0001d41a\U0001d41d\U0001d426\U0001d422\U0001d427", CodeNameReserved}, // mathematical bold admin
		// Invisible and blank-looking characters.
		{"alice\u034f", CodeNameInvalid},         // COMBINING GRAPHEME JOINER
		{"alice\ufe0f", CodeNameInvalid},         // VARIATION SELECTOR-16
		{"alice\U000e0100", CodeNameInvalid},     // VARIATION SELECTOR-17
		{"\u3164", CodeNameInvalid},              // HANGUL FILLER
		{"\u2800", CodeNameInvalid},              // BRAILLE PATTERN BLANK
		{"\uffa0", CodeNameInvalid},              // HALFWIDTH HANGUL FILLER
		{"alice\u17b4", CodeNameInvalid},         // KHMER VOWEL INHERENT AQ
		{"alice\u180b", CodeNameInvalid},         // MONGOLIAN FREE VARIATION SELECTOR ONE
		{"e\u0301\u200d\u0301", CodeNameInvalid}, // ZWJ between marks
		{"\u2731", CodeNameInvalid},              // ✱ alone: no letter, digit or emoji
		// Mixed scripts: one script (plus digits and symbols), or Latin
		// with the scripts of Japanese, Chinese or Korean writing.
		{"p\u0430ypal", CodeNameInvalid}, // Latin with a Cyrillic а
		{"Иван", ""},
		{"Иван99", ""},
		{"東京タワー", ""},    // Han + Katakana
		{"Tokyoタワー", ""}, // Latin + Katakana
		{"서울city", ""},   // Hangul + Latin
		{"Ωμέγαx", CodeNameInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ValidateName(tt.name)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("ValidateName(%q) = %v, want ok", tt.name, err)
				}
				return
			}
			if ErrorCode(err) != tt.code {
				t.Fatalf("ValidateName(%q) = %v, want %s", tt.name, err, tt.code)
			}
		})
	}
}

func TestNameKeyFolds(t *testing.T) {
	for _, pair := range [][2]string{{"Alice", "aLICE"}, {"Chloé", "CHLOÉ"}, {"Straße", "STRASSE"}, {"ｂｏｂ", "bob"}, {"Chloe\u0301", "Chloé"}} {
		if NameKey(pair[0]) != NameKey(pair[1]) {
			t.Errorf("NameKey(%q) = %q, NameKey(%q) = %q; want equal", pair[0], NameKey(pair[0]), pair[1], NameKey(pair[1]))
		}
	}
	if NameKey("alice") == NameKey("alicia") {
		t.Error("different names share a key")
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct {
		in, want string
		code     Code
	}{
		{"hello", "hello", ""},
		{"héllo 王芳 🌸", "héllo 王芳 🌸", ""},
		{"tab\tand\nnewline", "tab\tand\nnewline", ""},
		{"crlf\r\nline", "crlf\nline", ""},
		{"\x1b[31mred\x1b[0m", "red", ""},                          // whole sequences go: no "[31m" debris
		{"osc \x1b]0;title\x07 end", "osc  end", ""},               // OSC up to BEL
		{"osc \x1b]0;title\x1b\\ st", "osc  st", ""},               // OSC up to ST
		{"dcs \x1bPq#0;2;0;0;0\x1b\\ end", "dcs  end", ""},         // DCS (sixel) up to ST
		{"c1 \u009b2J csi", "c1  csi", ""},                         // 8-bit CSI
		{"reset \x1bc!", "reset !", ""},                            // two-byte ESC sequence
		{"charset \x1b(B!", "charset !", ""},                       // nF: intermediate, final
		{"lone \x1b\u00e9", "lone \u00e9", ""},                     // a lone ESC before text
		{"unfinished \x1b[31", "unfinished ", ""},                  // CSI cut short
		{"csi then control \x1b[3\x01x", "csi then control x", ""}, // malformed CSI: the rest is text
		{"del\x7f", "del", ""},
		{"bidi \u202egnp.exe", "bidi gnp.exe", ""},
		{"isolate \u2066x\u2069", "isolate x", ""},
		{"bad \xff\xfe utf8", "bad \ufffd\ufffd utf8", ""},
		{"\x02bold\x02 \x0304,01red\x0f \x1ditalic\x1d", "\x02bold\x02 \x0304,01red\x0f \x1ditalic\x1d", ""}, // IRC formatting: kept for IRC readers
		{"\x01ACTION x\x01 \x0e\x07", "ACTION x ", ""},                                                       // other controls go
		{"\x02\x0f ", "", CodeEmpty},                                                                         // formatting alone is empty
		{"   ", "", CodeEmpty},
		{"\x1b\x07", "", CodeEmpty},
		{"", "", CodeEmpty},
		{strings.Repeat("a", 101), "", CodeTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CleanText(tt.in, 100)
			if tt.code != "" {
				if ErrorCode(err) != tt.code {
					t.Fatalf("CleanText(%q) = %q, %v; want %s", tt.in, got, err, tt.code)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CleanText(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzCleanText(f *testing.F) {
	f.Add("hello \x1b[2J world")
	f.Add("\xff\xfe")
	f.Add("\u202e\u0085")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := CleanText(s, 1<<16)
		if err != nil {
			return
		}
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 out: %q", got)
		}
		for _, r := range got {
			if !keepRune(r) && r != utf8.RuneError && !(r < 0x20 && isFormatting(byte(r))) {
				t.Fatalf("control %U survived in %q", r, got)
			}
		}
		for _, r := range Strip(got) {
			if !keepRune(r) && r != utf8.RuneError {
				t.Fatalf("Strip left %U in %q", r, Strip(got))
			}
		}
	})
}

// TestStripFormatting: renderers other than IRC's remove IRC formatting
// codes with their colour numbers.
func TestStripFormatting(t *testing.T) {
	for in, want := range map[string]string{
		"\x02bold\x02":             "bold",
		"\x0304,01red\x0f":         "red",
		"\x034red":                 "red",
		"\x03,5not a colour":       ",5not a colour",
		"\x0312,":                  ",",
		"\x03123":                  "3",
		"\x04FF0000,00ff00hex\x04": "hex",
		"\x04GG":                   "GG",
		"\x1ditalic \x1funder \x1estrike \x11mono \x16rev": "italic under strike mono rev",
		"plain": "plain",
	} {
		if got := StripFormatting(in); got != want {
			t.Errorf("StripFormatting(%q) = %q, want %q", in, got, want)
		}
		if got := Strip(in); got != want {
			t.Errorf("Strip(%q) = %q, want %q", in, got, want)
		}
		if got := StripKeepFormatting(in); got != in {
			t.Errorf("StripKeepFormatting(%q) = %q, want it unchanged", in, got)
		}
	}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line, name, rest string
		cmd              bool
	}{
		{"hello", "", "hello", false},
		{"/nick bob", "nick", "bob", true},
		{"/MSG  bob  hi there", "msg", "bob  hi there", true},
		{"/quit", "quit", "", true},
		{"//not a command", "", "/not a command", false},
		{"/", "", "", true},
		{" /nick x", "", " /nick x", false},
	}
	for _, tt := range tests {
		name, rest, cmd := ParseCommand(tt.line)
		if name != tt.name || rest != tt.rest || cmd != tt.cmd {
			t.Errorf("ParseCommand(%q) = %q, %q, %v; want %q, %q, %v", tt.line, name, rest, cmd, tt.name, tt.rest, tt.cmd)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"/nick bob", "/msg a b", "//x", "/", "hello"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		name, rest, cmd := ParseCommand(line)
		if !cmd && name != "" {
			t.Fatalf("message with a name: %q", name)
		}
		if len(rest) > len(line) {
			t.Fatalf("rest longer than the line")
		}
	})
}
