package cluster

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parleychat/parley/chat"
)

// actionSubject is where nodes tell each other their moderation actions
// (core NATS: every node hears every action, as it happens; one cut off
// misses them, as it misses presence).
const actionSubject = "parley.act"

// wireAction is a chat.Action as it travels.
type wireAction struct {
	Node   string        `json:"n"`
	Op     chat.ActionOp `json:"o"`
	Room   string        `json:"r,omitempty"`
	Target string        `json:"t,omitempty"`
	By     string        `json:"b"`
	Reason string        `json:"w,omitempty"`
	Text   string        `json:"x,omitempty"`
	Mode   string        `json:"m,omitempty"`
	Time   int64         `json:"at"`
}

// Relay implements chat.Cluster.
func (c *Cluster) Relay(a chat.Action) {
	b, _ := json.Marshal(wireAction{Node: c.id, Op: a.Op, Room: a.Room, Target: a.Target, By: a.By, Reason: a.Reason, Text: a.Text, Mode: a.Mode, Time: a.Time.UnixNano()})
	if err := c.nc.Publish(actionSubject, b); err != nil {
		c.log.Warn("telling the other nodes about a moderation action failed", "err", err)
	}
}

// subscribeActions starts carrying out the other nodes' actions.
func (c *Cluster) subscribeActions() error {
	var err error
	c.acts, err = c.nc.Subscribe(actionSubject, func(m *nats.Msg) {
		a, node, err := decodeAction(m.Data)
		if err != nil {
			c.log.Warn("ignored an invalid moderation action from the cluster", "err", err)
			return
		}
		if node != c.id && c.hub != nil {
			c.hub.RemoteAction(a)
		}
	})
	return err
}

// decodeAction reads an action, checked like a client's input.
func decodeAction(b []byte) (chat.Action, string, error) {
	var w wireAction
	if err := json.Unmarshal(b, &w); err != nil {
		return chat.Action{}, "", err
	}
	a := chat.Action{Op: w.Op, Room: w.Room, Target: w.Target, By: w.By, Reason: w.Reason, Text: w.Text, Mode: w.Mode, Time: time.Unix(0, w.Time)}
	if w.Op == chat.ActionUserNotice {
		// To a room or to a user, never both; text as a message's.
		switch text, err := chat.CleanText(w.Text, maxStreamText); {
		case (w.Room == "") == (w.Target == ""):
			return a, "", errors.New("a user notice needs a room or a user")
		case w.Room != "" && !validRoom(w.Room), w.Target != "" && !validName(w.Target):
			return a, "", errors.New("not a room key or a name")
		case err != nil || text != w.Text:
			return a, "", errors.New("a user notice with no clean text")
		case !validName(w.By):
			return a, "", errors.New("not a sender's name")
		}
		return a, w.Node, nil
	}
	switch {
	case w.Op < chat.ActionNotice || w.Op > chat.ActionInvite:
		return a, "", errors.New("not an action")
	case w.Op != chat.ActionKill && !validRoom(w.Room):
		return a, "", errors.New("not a room key")
	case w.Op != chat.ActionNotice && !validName(w.Target):
		return a, "", errors.New("not a name")
	case !validName(w.By):
		return a, "", errors.New("not a moderator's name")
	case !cleanLine(w.Reason) || len(w.Reason) > chat.MaxReasonBytes || !cleanLine(w.Mode) || len(w.Mode) > 256:
		return a, "", errors.New("text that is not clean")
	case w.Op == chat.ActionNotice && (w.Text == "" || !cleanLine(w.Text)):
		return a, "", errors.New("a notice with no clean text")
	}
	return a, w.Node, nil
}
