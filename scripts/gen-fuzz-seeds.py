#!/usr/bin/env python3
"""Writes the committed seed corpora (testdata/fuzz/FuzzXxx/) of parley's fuzz
targets: the hostile inputs of docs/security.md, in `go test fuzz v1` form.
Run from the repository root; files are named after their content's hash, so
running it again changes nothing."""
import hashlib, os

def golit(b: bytes) -> str:
    out = []
    for c in b:
        ch = chr(c)
        if ch == '"' or ch == '\\':
            out.append('\\' + ch)
        elif 0x20 <= c < 0x7f:
            out.append(ch)
        else:
            out.append('\\x%02x' % c)
    return '"' + ''.join(out) + '"'

def hdr(n: int) -> bytes:
    return str(n).encode().ljust(10)

def frame(p: bytes) -> bytes:
    return hdr(len(p)) + p

ESC = b"\x1b]0;pwned\x07 \x1b[31mred\x1b[0m \xc2\x9b2J \xe2\x80\xae evil"
NESTED = b'{"type":"say","x":' + b"[" * 3000 + b"]" * 3000 + b"}"
corpora = {
    ("wire/frame", "FuzzReadFrame", "[]byte"): [
        b"abcdefghij", b"-5        hello", b"+5        hello", b"999999999 ", b"9999999999", b"5         ",
        b"100       only ten b", frame(b"alice") + frame(b"hi") + b" 5        there", b"5  \t\n\x0b\x0c\r12345",
        frame("王芳".encode()) + frame(ESC), b"0         " * 5, frame(b"\xff\xfe\xfd"), b"1_0       0123456789",
        b"\x00" * 10, b"\xef\xbc\x95        12345",
    ],
    ("wire/frame", "FuzzParseHeader", "[]byte"): [
        b"abcdefghij", b"-5        ", b"+5        ", b"999999999 ", b"9999999999", b"          ", b" 5        ",
        b"1_0       ", b"0x10      ", b"\x1c5\x1f       ", b"\xef\xbc\x95       ", b"5 5       ",
    ],
    ("wire/line", "FuzzReadLine", "[]byte"): [
        b"A" * 9000 + b"\nshort\n", b"alice\r\nhi\r\n", b"\xff\xfb\x01\xff\xfd\x03name\r\n", b"\xff\xfa\x18\x00xterm\xff\xf0hi\n",
        b"\xff\xff\xff\n", b"\xff", b"no newline at all", b"\r\r\r\n", ESC + b"\n", b"\xff\xfa unterminated subnegotiation\n",
    ],
    ("wire/native", "FuzzDecodeRequest", "[]byte"): [
        NESTED, b'{"type":"say","text":42}', b'{"type":"explode"}', b'{"type":["say"]}', b'{"type":"hello","version":"1"}',
        b'{"type":"hello","since":{"lobby":-1}}', b'{"type":"history","limit":1e999}', b'{"type":"say","text":"' + ESC.replace(b"\x1b", b"\\u001b") + b'"}',
        b'{"type":"say"' + b',"a":1' * 2000 + b"}", b'{"type":"\xff"}', b"\xef\xbb\xbf{\"type\":\"say\"}", b"{}", b"[]",
    ],
    ("wire/native", "FuzzDecodeEvent", "[]byte"): [
        NESTED, b'{"type":"welcome","version":"one"}', b'{"type":"say","ts":"0000-00-00"}', b'{"type":"rooms","rooms":{}}',
        b'{"type":"say","text":"' + ESC.replace(b"\x1b", b"\\u001b") + b'"}',
    ],
    ("chat", "FuzzCleanText", "string"): [
        ESC, b"\xff\xfe utf-8", b"\x00\x01\x7f\xc2\x80\xc2\x9f", b"\xe2\x81\xa6isolate\xe2\x81\xa9", b"\r\n\r\n", b" \t ", b"\xed\xa0\x80",
    ],
    ("chat", "FuzzParseCommand", "string"): [
        b"/msg", b"/\xff", b"/ ", b"//", b"/nick\tbob", b"/" + b"x" * 1000, ESC,
    ],
    ("chat", "FuzzExec", "string"): [
        b"/nick Server", b"/nick \xef\xbd\x93\xef\xbd\x85\xef\xbd\x92\xef\xbd\x96\xef\xbd\x85\xef\xbd\x92", b"/nick *", b"/nick " + b"x" * 33,
        b"/nick a\xe2\x80\x8db", b"/join #" + b"\x1b[2J", b"/topic " + ESC, b"/msg carol " + ESC, b"/me " + b"\xff" * 10, b"/quit " + ESC,
    ],
    ("chat", "FuzzValidateName", "string"): [
        b"Server", b"SERVER", b"_server_", b"server.", b"*", b"", b"x" * 33, b"\xef\xbd\x93\xef\xbd\x85\xef\xbd\x92\xef\xbd\x96\xef\xbd\x85\xef\xbd\x92",
        b"a\x1bb", b"rtl\xe2\x80\xae", b"zw\xe2\x80\x8bsp", b"a:b", b"\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb",
    ],
}

for (pkg, target, typ), seeds in corpora.items():
    d = os.path.join(pkg, "testdata", "fuzz", target)
    os.makedirs(d, exist_ok=True)
    for s in seeds:
        body = "go test fuzz v1\n%s(%s)\n" % (typ, golit(s))
        name = "seed-" + hashlib.sha256(body.encode()).hexdigest()[:16]
        with open(os.path.join(d, name), "w") as f:
            f.write(body)
