package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/parleychat/parley/client"
)

var (
	stHeader   = lipgloss.NewStyle().Background(lipgloss.Color("236")).Foreground(lipgloss.Color("252"))
	stTitle    = stHeader.Bold(true).Foreground(lipgloss.Color("81"))
	stOK       = stHeader.Foreground(lipgloss.Color("77"))
	stBad      = stHeader.Foreground(lipgloss.Color("203")).Bold(true)
	stTab      = lipgloss.NewStyle().Foreground(lipgloss.Color("245"))
	stTabOn    = lipgloss.NewStyle().Reverse(true).Bold(true)
	stTabNew   = lipgloss.NewStyle().Foreground(lipgloss.Color("81")).Bold(true)
	stTabMent  = lipgloss.NewStyle().Foreground(lipgloss.Color("214")).Bold(true)
	stTime     = lipgloss.NewStyle().Foreground(lipgloss.Color("242"))
	stSystem   = lipgloss.NewStyle().Foreground(lipgloss.Color("244"))
	stError    = lipgloss.NewStyle().Foreground(lipgloss.Color("203")).Bold(true)
	stDM       = lipgloss.NewStyle().Foreground(lipgloss.Color("170"))
	stMe       = lipgloss.NewStyle().Italic(true)
	stHistory  = lipgloss.NewStyle().Faint(true)
	stMention  = lipgloss.NewStyle().Background(lipgloss.Color("58")).Foreground(lipgloss.Color("230"))
	stDivider  = lipgloss.NewStyle().Foreground(lipgloss.Color("240"))
	stMembers  = lipgloss.NewStyle().Foreground(lipgloss.Color("250"))
	stSep      = lipgloss.NewStyle().Foreground(lipgloss.Color("238"))
	stPrompt   = lipgloss.NewStyle().Foreground(lipgloss.Color("81")).Bold(true)
	stMoreHint = lipgloss.NewStyle().Reverse(true)
)

const timeWidth = 6 // "15:04 "

func (m *Model) membersWidth() int {
	if !m.showMembers || m.width < 50 {
		return 0
	}
	return min(max(m.width/5, 12), 22)
}

func (m *Model) paneWidth() int {
	if mw := m.membersWidth(); mw > 0 {
		return max(m.width-mw-1, 10)
	}
	return max(m.width, 10)
}

// View draws the screen.
func (m *Model) View() string {
	if m.quitting {
		return ""
	}
	if m.width < 20 || m.height < 5 {
		return "terminal too small"
	}
	var b strings.Builder
	b.WriteString(m.header())
	b.WriteByte('\n')
	b.WriteString(m.tabs())
	b.WriteByte('\n')
	pane := m.pane()
	mw := m.membersWidth()
	var side []string
	if mw > 0 {
		side = m.memberLines(mw, len(pane))
	}
	for i, l := range pane {
		b.WriteString(l)
		if mw > 0 {
			b.WriteString(stSep.Render("│"))
			b.WriteString(side[i])
		}
		b.WriteByte('\n')
	}
	b.WriteString(m.inputLine())
	return b.String()
}

// pad cuts or pads s (which may hold styles) to exactly w cells.
func pad(s string, w int) string {
	if n := width(s); n > w {
		return ansi.Truncate(s, w, "…")
	} else if n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

func (m *Model) header() string {
	w := m.cur()
	title := stTitle.Render(" parley ")
	where := " " + m.opt.Addr
	if m.server != "" {
		where = " " + m.server + " @ " + m.opt.Addr
	}
	room := " │ " + w.name
	if !w.dm {
		room = " │ #" + w.name
	}
	if w.topic != "" {
		room += ": " + w.topic
	}
	var state string
	switch m.state {
	case client.StateConnected:
		state = stOK.Render("● " + m.me + " ")
	case client.StateReconnecting:
		state = stBad.Render("◌ reconnecting… ")
	case client.StateDisconnected:
		secs := int((m.retryAt.Sub(m.opt.Now()) + time.Second - 1) / time.Second)
		state = stBad.Render("✕ disconnected, retrying in " + strconv.Itoa(max(secs, 0)) + "s ")
	case client.StateClosed:
		state = stBad.Render("✕ closed ")
	}
	left := title + stHeader.Render(where+room)
	avail := m.width - width(state)
	if avail < 1 {
		return pad(state, m.width)
	}
	return pad(left, avail-1) + stHeader.Render(" ") + state
}

func (m *Model) tabs() string {
	var parts []string
	for i, w := range m.windows {
		label := strconv.Itoa(i+1) + ":" + w.name
		if !w.dm {
			label = strconv.Itoa(i+1) + ":#" + w.name
		}
		st := stTab
		switch {
		case i == m.active:
			st = stTabOn
		case w.mention:
			st = stTabMent
			label += " (" + strconv.Itoa(w.unread) + "!)"
		case w.unread > 0:
			st = stTabNew
			label += " (" + strconv.Itoa(w.unread) + ")"
		}
		parts = append(parts, st.Render(" "+label+" "))
	}
	return pad(strings.Join(parts, " "), m.width)
}

// pane renders the visible part of the current window, exactly paneHeight
// lines of paneWidth cells.
func (m *Model) pane() []string {
	h, pw := m.paneHeight(), m.paneWidth()
	w := m.cur()
	lines := m.renderWindow(w, pw)
	w.scroll = min(w.scroll, max(len(lines)-h, 0))
	end := len(lines) - w.scroll
	start := max(end-h, 0)
	vis := lines[start:end]
	out := make([]string, 0, h)
	for i := len(vis); i < h; i++ {
		out = append(out, strings.Repeat(" ", pw))
	}
	for _, l := range vis {
		out = append(out, pad(l, pw))
	}
	if w.scroll > 0 {
		hint := stMoreHint.Render(fmt.Sprintf(" ↓ %d more lines (PgDn) ", w.scroll))
		out[h-1] = pad(strings.Repeat(" ", max(pw-width(hint), 0))+hint, pw)
	}
	return out
}

func (m *Model) renderWindow(w *window, pw int) []string {
	var lines []string
	for _, e := range w.entries {
		lines = append(lines, m.renderEntry(e, pw)...)
	}
	return lines
}

// renderEntry wraps one entry to width pw: a timestamp column, then the
// text with continuation lines indented under it.
func (m *Model) renderEntry(e entry, pw int) []string {
	if e.kind == kDivider {
		label := " " + e.text + " "
		side := max((pw-width(label))/2, 1)
		return []string{stDivider.Render(strings.Repeat("─", side) + label + strings.Repeat("─", max(pw-side-width(label), 0)))}
	}
	var prefix string
	var pst lipgloss.Style
	bst := lipgloss.NewStyle()
	switch e.kind {
	case kSay:
		prefix, pst = "<"+e.from+"> ", lipgloss.NewStyle().Foreground(nickColor(e.from)).Bold(true)
	case kMe:
		prefix, pst = "* "+e.from+" ", stMe.Foreground(nickColor(e.from)).Bold(true)
		bst = stMe
	case kDM:
		if e.own {
			prefix = "-> *" + e.to + "* "
		} else {
			prefix = "*" + e.from + "* "
		}
		pst, bst = stDM.Bold(true), stDM
	case kSystem:
		prefix, pst, bst = "-- ", stSystem, stSystem
	case kError:
		prefix, pst, bst = "! ", stError, stError
	}
	if e.mention {
		bst = stMention
	}
	if e.history {
		pst, bst = pst.Faint(true), bst.Faint(true)
	}
	textW := max(pw-timeWidth, 4)
	wrapped := strings.Split(ansi.Wrap(prefix+e.text, textW, ""), "\n")
	out := make([]string, len(wrapped))
	stamp := e.ts.In(m.opt.Location).Format("15:04") + " "
	for i, l := range wrapped {
		lead := strings.Repeat(" ", timeWidth)
		if i == 0 {
			lead = stTime.Render(stamp)
			if e.history {
				lead = stHistory.Render(stamp)
			}
			if strings.HasPrefix(l, prefix) {
				l = pst.Render(prefix) + bst.Render(l[len(prefix):])
			} else {
				l = pst.Render(l)
			}
		} else {
			l = bst.Render(l)
		}
		out[i] = lead + l
	}
	return out
}

func (m *Model) memberLines(mw, h int) []string {
	w := m.cur()
	out := make([]string, h)
	title := " members"
	if !w.dm {
		title = fmt.Sprintf(" members (%d)", len(w.members))
	}
	out[0] = pad(stSystem.Render(title), mw)
	for i := 1; i < h; i++ {
		s := ""
		if i-1 < len(w.members) {
			n := w.members[i-1]
			st := stMembers.Foreground(nickColor(n))
			if m.isMe(n) {
				st = st.Bold(true)
			}
			s = " " + st.Render(n)
		}
		out[i] = pad(s, mw)
	}
	if len(w.members) > h-1 && h > 1 {
		out[h-1] = pad(stSystem.Render(fmt.Sprintf(" +%d more", len(w.members)-(h-2))), mw)
	}
	return out
}

func (m *Model) inputLine() string {
	w := m.cur()
	target := "#" + w.name
	if w.dm {
		target = w.name
	}
	prompt := stPrompt.Render(target + "> ")
	m.input.Width = max(m.width-width(prompt)-1, 1)
	return pad(prompt+m.input.View(), m.width)
}

// Run runs the full-screen client over c until the user quits, c stops or
// ctx is done.
func Run(ctx context.Context, c *client.Client) error {
	var bellMu sync.Mutex
	var lastBell time.Time
	m := New(c, Options{
		Addr: c.Addr(), Name: c.Name(), Server: c.Server(), Events: c.Events(), Focus: first(c.RequestedRooms()),
		Bell: func() {
			bellMu.Lock()
			defer bellMu.Unlock()
			if time.Since(lastBell) > time.Second {
				lastBell = time.Now()
				_, _ = os.Stderr.WriteString("\a")
			}
		},
	})
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithMouseCellMotion(), tea.WithContext(ctx))
	_, err := p.Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		_ = c.Quit("")
		return nil
	}
	return err
}

func first(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[0]
}
