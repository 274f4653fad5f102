package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse", TestParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not PHC argon2id", h)
	}
	h2, _ := Hash("correct horse", TestParams)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no per-hash salt")
	}
	tests := []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct horsE", false}, {"", false}, {"correct horse ", false}}
	for _, tt := range tests {
		if ok, err := Verify(h, tt.pw); err != nil || ok != tt.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tt.pw, ok, err, tt.want)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5"} {
		if ok, err := Verify(h, "x"); ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Verify(%q) = %v, %v; want ErrMalformedHash", h, ok, err)
		}
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestGuardSlowsThenLocks(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	g := NewGuard(Policy{Window: time.Minute, SlowFrom: 2, MaxDelay: 4 * time.Second, LockFrom: 5, LockFor: 10 * time.Minute}, c.now)
	wantDelay := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second}
	for i, want := range wantDelay {
		d, err := g.Check("alice", "account alice")
		if err != nil || d != want {
			t.Fatalf("attempt %d: Check = %v, %v; want %v", i, d, err, want)
		}
		if locked := g.Fail("alice"); locked != (i == 4) {
			t.Fatalf("attempt %d: locked = %v", i, locked)
		}
	}
	_, err := g.Check("alice", "account alice")
	var l *Locked
	if !errors.As(err, &l) || l.Retry != 10*time.Minute {
		t.Fatalf("after 5 failures Check = %v; want locked for 10m", err)
	}
	if d, err := g.Check("bob", "account bob"); d != 0 || err != nil {
		t.Fatalf("another key is affected: %v %v", d, err)
	}
	g.Succeed("alice") // a lock is not lifted by guessing right
	c.t = c.t.Add(9 * time.Minute)
	if _, err := g.Check("alice", ""); err == nil {
		t.Fatal("lock lifted early")
	}
	c.t = c.t.Add(time.Minute)
	if d, err := g.Check("alice", ""); d != 0 || err != nil {
		t.Fatalf("after the lock: %v %v", d, err)
	}
}

func TestGuardWindowForgets(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	g := NewGuard(Policy{Window: time.Minute, SlowFrom: 2, MaxDelay: time.Second, LockFrom: 3, LockFor: time.Hour}, c.now)
	g.Fail("k")
	g.Fail("k")
	c.t = c.t.Add(2 * time.Minute)
	if locked := g.Fail("k"); locked {
		t.Fatal("old failures counted")
	}
	if d, _ := g.Check("k", ""); d != 0 {
		t.Fatalf("delay %v after one recent failure", d)
	}
	g.Succeed("k")
	if len(g.keys) != 0 {
		t.Fatal("success did not forget")
	}
}

func FuzzVerify(f *testing.F) {
	h, _ := Hash("pw", TestParams)
	f.Add(h, "pw")
	f.Add("$argon2id$v=19$m=1,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		p, _, _, err := parseHash(hash) // must not panic
		if err == nil && p.Memory <= 1024 && p.Time <= 2 {
			_, _ = Verify(hash, pw)
		}
	})
}
