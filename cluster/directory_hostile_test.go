package cluster_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/wire/native"
)

// TestHostileDirectoryInput: whatever else writes to the directory's
// bucket or the audit stream (a NATS account shared with a buggy or
// hostile program), no node takes an entry that is not a well-formed
// account, room's settings or sanction under its own key: no name is
// registered, no room changes, nobody is banned, the audit log reads on
// without the garbage; and the clients' own changes still land on every
// node, over a garbage version of their key too.
func TestHostileDirectoryInput(t *testing.T) {
	t.Parallel() // each test has a cluster of its own; most of a test is waiting for it
	nodes := startCluster(t, 2)
	gus := joinRoom(t, nodes[1], "gus", "dev")

	js := natsOf(t, nodes[0])
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, "parley-directory")
	if err != nil {
		t.Fatal(err)
	}
	tok := func(s string) string { return hex.EncodeToString([]byte(s)) }
	garbage := "\xff\x00\x1b[2Jgarbage"
	for _, e := range []struct{ key, val string }{
		// Accounts.
		{"a." + tok("trudy"), `{"Name":"mallory","Key":"mallory","Hash":"h"}`},   // under another key
		{"a." + tok("mallory"), `{"Name":"mallory","Key":"trudy","Hash":"h"}`},   // a name whose key differs
		{"a." + tok("chloé"), `{"Name":"Chloe\u0301","Key":"chloé","Hash":"h"}`}, // an invalid name (not NFC)
		{"a." + tok("al ice"), `{"Name":"al ice","Key":"al ice","Hash":"h"}`},    // an invalid name
		{"a." + tok("hashless"), `{"Name":"hashless","Key":"hashless","Hash":""}`},
		{"a." + tok("gus"), garbage},
		{"a", `{"Name":"mallory","Key":"mallory","Hash":"h"}`},
		// Room settings: each would make #dev moderated, invite-only or
		// slow if it were taken.
		{"r." + tok("dev"), `{"Room":"dev","Owner":"mallory","Roles":{"mallory":99},"Moderated":true,"InviteOnly":true}`},
		{"r." + tok("dev"), `{"Room":"ops","Moderated":true,"InviteOnly":true}`},
		{"r." + tok("dev"), `{"Room":"dev","Owner":"Mal Lory","Moderated":true}`},
		{"r." + tok("dev"), `{"Room":"dev","Roles":{"Gus":1},"Moderated":true}`},
		{"r." + tok("dev"), `{"Room":"dev","Slow":-1000000000,"Moderated":true}`},
		{"r." + tok("dev"), garbage},
		{"r." + tok("Dev Room"), `{"Room":"Dev Room","Moderated":true}`},
		{"r.zz", `{"Room":"dev","Moderated":true}`},
		// Sanctions: each would keep gus or every local guest out if it
		// were taken.
		{"s.evil1", fmt.Sprintf(`{"Kind":"kick","Room":"dev","Target":"name","Value":%q,"By":"mallory"}`, chat.NameSkeleton("gus"))},
		{"s.evil2", `{"Kind":"ban","Target":"everyone","Value":"*","By":"mallory"}`},
		{"s.evil3", `{"Kind":"ban","Room":"Dev Room","Target":"ip","Value":"127.0.0.1","By":"mallory"}`},
		{"s.evil4", `{"Kind":"ban","Target":"ip","Value":"127.0.0.1","By":"mallory","Reason":"bye\u001b[2J"}`},
		{"s.evil5", `{"Kind":"ban","Target":"ip","Value":"","By":"mallory"}`},
		{"s.evil6", garbage},
		// Unknown keys.
		{"x." + tok("dev"), `{"Room":"dev","Moderated":true}`},
		{"zzz", garbage},
	} {
		if _, err := kv.Put(ctx, e.key, []byte(e.val)); err != nil {
			t.Fatalf("put %s: %v", e.key, err)
		}
	}
	modSubject := "parley.modlog." + tok("mod2")
	for _, payload := range []string{
		garbage,
		`{"Room":"mod2","Actor":"mallory","Action":"ban\nforged","Target":"dan"}`,
		`{"Room":"mod2","Actor":"mallory\u001b[2J","Action":"ban","Target":"dan"}`,
		`{"Room":"Mod 2","Actor":"mallory","Action":"ban","Target":"dan"}`,
		`{"Room":"elsewhere","Actor":"mallory","Action":"ban","Target":"dan"}`, // another room's subject
		`{"Actor":"mallory","Action":"ban","Target":"dan"}`,                    // a server-wide entry, in a room's
	} {
		if _, err := js.Publish(ctx, modSubject, []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}

	// Changes made through clients after them, each on another node than
	// the one that checks it: once one is applied there, the node's watcher
	// has been through every entry above (it applies them in revision
	// order).
	dan := registerOn(t, nodes[0], "dan", "lobby2")
	dan.Conn.Close()
	testkit.Eventually(t, "dan's account on node 1", func() bool { return nodes[1].Hub.IsRegistered("dan") })
	testkit.Eventually(t, "dan gone", func() bool { _, ok := nodes[1].Hub.RemoteUser("dan"); return !ok && nodes[0].Hub.Lookup("dan") == nil })
	dan1 := joinWith(t, nodes[1], "dan", "mod2", native.Request{Account: "dan", Password: pw})
	dan1.Expect("owner", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "you own #mod2") })
	dan1.Send(native.Request{Type: "mode", Room: "mod2", Mode: "+m"})
	for i, nd := range nodes {
		testkit.Eventually(t, fmt.Sprint("+m on node ", i), func() bool { m, _ := nd.Hub.RoomModes("mod2"); return m == "m" })
	}

	// Nothing of the hostile entries was taken.
	for i, nd := range nodes {
		for _, name := range []string{"mallory", "trudy", "Chloé", "hashless", "gus"} {
			if nd.Hub.IsRegistered(name) {
				t.Errorf("node %d: %s is registered", i, name)
			}
		}
		for _, room := range []string{"dev", "ops"} {
			if modes, slow := nd.Hub.RoomModes(room); modes != "" || slow != 0 {
				t.Errorf("node %d: #%s has modes %q, slow %v", i, room, modes, slow)
			}
		}
		if r := nd.Hub.Roles("dev", []string{"mallory", "gus"}); len(r) != 0 {
			t.Errorf("node %d: roles in #dev: %v", i, r)
		}
		dir := nd.Cluster.Directory()
		accounts, _ := dir.Accounts(ctx)
		if len(accounts) != 1 || accounts[0].Key != "dan" {
			t.Errorf("node %d: the directory's accounts: %+v", i, accounts)
		}
		settings, _ := dir.RoomSettings(ctx)
		for _, rs := range settings {
			if rs.Room != "mod2" {
				t.Errorf("node %d: settings taken: %+v", i, rs)
			}
		}
		if sanctions, _ := dir.Sanctions(ctx); len(sanctions) != 0 {
			t.Errorf("node %d: sanctions taken: %+v", i, sanctions)
		}
	}

	// Guests join #dev on either node and speak there.
	hal := joinRoom(t, nodes[0], "hal", "dev")
	waitMembers(t, hal, "dev", 2)
	hal.Send(native.Request{Type: "say", Room: "dev", Text: ptr("hello from hal")})
	gus.Expect("hal's message", func(ev native.Event) bool { return ev.Type == "say" && ev.From == "hal" && ev.Text == "hello from hal" })
	gus.Send(native.Request{Type: "say", Room: "dev", Text: ptr("hello from gus")})
	hal.Expect("gus's message", func(ev native.Event) bool { return ev.Type == "say" && ev.From == "gus" && ev.Text == "hello from gus" })

	// The audit log of #mod2 reads, without the garbage. (A refusal, as
	// the log may be unavailable for a moment on a loaded machine, is
	// logged and the log read again.)
	var log string
	for attempt := 1; ; attempt++ {
		ref := dan1.Ref()
		dan1.Send(native.Request{Type: "modlog", Room: "mod2", Ref: ref})
		ev := dan1.Expect("modlog", func(ev native.Event) bool {
			return ev.Type == "notice" && strings.Contains(ev.Text, "moderation log of #mod2") || ev.Type == "error" && ev.Ref == ref
		})
		if ev.Type == "notice" {
			log = ev.Text
			break
		}
		t.Logf("reading the moderation log, attempt %d: %s %s", attempt, ev.Code, ev.Message)
		if attempt == 3 {
			t.Fatalf("the moderation log is refused: %s %s", ev.Code, ev.Message)
		}
	}
	for _, want := range []string{"claim dan", "mode +m", "(2 entries)"} {
		if !strings.Contains(log, want) {
			t.Errorf("the moderation log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "mallory") || strings.Contains(log, "forged") {
		t.Errorf("the moderation log holds a hostile entry:\n%s", log)
	}
	// +m, applied on node 0 from the directory, holds there.
	hal.Send(native.Request{Type: "join", Room: "mod2"})
	hal.Expect("hal joins #mod2", func(ev native.Event) bool { return ev.Type == "join" && ev.Room == "mod2" && ev.Name == "hal" })
	hal.Send(native.Request{Type: "say", Room: "mod2", Text: ptr("may I?")})
	if ev := hal.ExpectType("error"); ev.Code != "forbidden" || !strings.Contains(ev.Message, "moderated") {
		t.Fatalf("a guest in a +m room on the other node: %s %s", ev.Code, ev.Message)
	}

	// Garbage under the keys the next changes go to: an account
	// registered, a room made and moderated through clients still land,
	// on both nodes.
	for _, key := range []string{"a." + tok("eve"), "r." + tok("mod3")} {
		if _, err := kv.Put(ctx, key, []byte(garbage)); err != nil {
			t.Fatal(err)
		}
	}
	registerOn(t, nodes[1], "eve", "lobby3")
	dan1.Send(native.Request{Type: "join", Room: "mod3"})
	dan1.Expect("owner of #mod3", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "you own #mod3") })
	dan1.Send(native.Request{Type: "mode", Room: "mod3", Mode: "+t"})
	for i, nd := range nodes {
		testkit.Eventually(t, fmt.Sprint("eve's account on node ", i), func() bool { return nd.Hub.IsRegistered("eve") })
		testkit.Eventually(t, fmt.Sprint("+t in #mod3 on node ", i), func() bool { m, _ := nd.Hub.RoomModes("mod3"); return m == "t" })
	}

	// A second copy of dan's account under a key that is not its own
	// (upper-case hex), then deleted: dan stays registered, once.
	danRec, err := kv.Get(ctx, "a."+tok("dan"))
	if err != nil {
		t.Fatal(err)
	}
	alias := "a." + strings.ToUpper(tok("dan"))
	if _, err := kv.Put(ctx, alias, danRec.Value()); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, alias); err != nil {
		t.Fatal(err)
	}
	// Garbage over records that exist: taken as their deletion, as a
	// node started now would see it (it reads only the newest version).
	for _, key := range []string{"a." + tok("eve"), "r." + tok("mod3")} {
		if _, err := kv.Put(ctx, key, []byte(garbage)); err != nil {
			t.Fatal(err)
		}
	}
	for i, nd := range nodes {
		testkit.Eventually(t, fmt.Sprint("eve's account gone on node ", i), func() bool { return !nd.Hub.IsRegistered("eve") })
		testkit.Eventually(t, fmt.Sprint("#mod3's modes gone on node ", i), func() bool { m, _ := nd.Hub.RoomModes("mod3"); return m == "" })
		if !nd.Hub.IsRegistered("dan") {
			t.Errorf("node %d: deleting a copy of dan's account under another key unregistered dan", i)
		}
		if accounts, _ := nd.Cluster.Directory().Accounts(ctx); len(accounts) != 1 {
			t.Errorf("node %d: the directory's accounts: %+v", i, accounts)
		}
	}
}
