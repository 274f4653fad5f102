// parley web app: the native protocol over /ws (docs/protocol.md).
//
// Everything others send is put on the page as text (textContent, text
// nodes); the only elements made from it are links, and only for http(s)
// URLs. Messages are kept per tab by id, so the replay after a
// reconnection (the hello's "since") neither loses nor repeats one.
'use strict';

const PROTOCOL_VERSION = 1;
const PAGE = 50;               // messages per scroll-back page
const PING_EVERY = 25000;      // ms between our pings while idle
const PONG_WITHIN = 10000;     // ms to wait for any event after a ping
const MAX_BACKOFF = 15000;     // ms, the longest wait between reconnections
const CLIENT_COMMANDS = [
  ['/query NAME', 'open a conversation with NAME (plain lines there are direct messages)'],
  ['/close', 'leave the current room, or close the current conversation'],
  ['/members', 'show or hide the member list'],
  ['/clear', 'clear the current window'],
];

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

const state = {
  me: '',                 // our name, as the server has it
  password: '',
  server: 'parley',
  maxBytes: 65536,
  ws: null,
  online: false,          // welcomed on the current connection
  everOnline: false,      // welcomed once: later connections are reconnections
  wantOnline: false,      // the user wants to be connected (false after /quit)
  attempt: 0,             // reconnections since the last welcome
  retryTimer: 0,
  nameTimer: 0,
  countdown: 0,
  retryAt: 0,
  nameRetries: 0,
  lastRecv: 0,
  pingTimer: 0,
  tabs: new Map(),        // key ("#lobby", "@bob") -> tab
  current: '#lobby',
  refSeq: 0,
  maxSeen: 0,             // the newest message id received
  refs: new Map(),        // ref -> {tab, what}
  wantJoin: new Set(),    // rooms the user asked to join: switch to them when joined
  hist: [], histPos: 0, draft: '',
  notify: localStorage.getItem('parley.notify') === 'on',
  theme: localStorage.getItem('parley.theme') || 'auto',
  encoder: new TextEncoder(),
};

// ---- tabs -------------------------------------------------------------

function roomKey(room) { return '#' + room.replace(/^#/, '').toLowerCase(); }
function dmKey(name) { return '@' + name.toLowerCase(); }

function makeTab(key, kind, name) {
  const pane = el('div', 'log-pane');
  const t = {
    key, kind, name,
    pane,                  // the tab's messages (shown while it is current)
    ids: new Set(),        // message ids shown
    first: 0, last: 0,     // lowest and highest message id shown
    seq: 0,                // order key of the last line added
    unread: 0, mention: false,
    topic: '', members: [], membersNext: null,
    resumeAfter: 0,        // the id this tab's room was resumed after at the last hello (0: not resumed)
    atStart: kind === 'dm', // no older page to load
    loadingOlder: false,
    joined: kind === 'room',
    btn: null,
  };
  state.tabs.set(key, t);
  renderTabs();
  return t;
}

function roomTab(room, create = true) {
  const key = roomKey(room);
  return state.tabs.get(key) || (create ? makeTab(key, 'room', room.replace(/^#/, '').toLowerCase()) : null);
}

function dmTab(name, create = true) {
  const key = dmKey(name);
  const t = state.tabs.get(key);
  if (t) { t.name = name; return t; }
  return create ? makeTab(key, 'dm', name) : null;
}

function cur() { return state.tabs.get(state.current) || roomTab('lobby'); }

function switchTo(key) {
  const t = state.tabs.get(key);
  if (!t) return;
  state.current = key;
  t.unread = 0;
  t.mention = false;
  const log = $('log');
  for (const p of log.querySelectorAll('.log-pane')) p.remove();
  log.appendChild(t.pane);
  $('tab-title').textContent = t.kind === 'room' ? '#' + t.name : t.name;
  $('tab-topic').textContent = t.kind === 'room' ? t.topic : 'direct messages with ' + t.name;
  $('btn-topic').hidden = t.kind !== 'room';
  $('btn-leave').textContent = t.kind === 'room' ? 'Leave' : 'Close';
  $('input').placeholder = 'Message ' + (t.kind === 'room' ? '#' + t.name : t.name);
  renderOlder(t);
  renderMembers();
  renderTabs();
  scrollToBottom();
  closeDrawers();
  if (t.kind === 'room' && state.online && t.joined) askWho(t);
  maybeLoadOlder();
}

function closeTab(t) {
  state.tabs.delete(t.key);
  if (state.current === t.key) {
    const lobby = state.tabs.get('#lobby');
    switchTo(lobby ? lobby.key : [...state.tabs.keys()][0]);
  }
  renderTabs();
}

function renderTabs() {
  const rooms = $('room-tabs'), dms = $('dm-tabs');
  rooms.textContent = '';
  dms.textContent = '';
  let total = 0;
  const sorted = [...state.tabs.values()].sort((a, b) =>
    a.name === 'lobby' ? -1 : b.name === 'lobby' ? 1 : a.name.localeCompare(b.name));
  for (const t of sorted) {
    const li = el('li');
    const b = el('button', 'tab');
    b.type = 'button';
    b.dataset.key = t.key;
    b.dataset.name = t.name;
    if (t.key === state.current) b.setAttribute('aria-current', 'page');
    if (t.kind === 'dm') b.appendChild(nick(t.name));
    else b.appendChild(el('span', 'tab-name', '#' + t.name));
    if (t.kind === 'dm') b.firstChild.classList.add('tab-name');
    if (t.mention) {
      const m = el('span', 'mention-mark', '@');
      m.title = 'you were mentioned';
      b.appendChild(m);
    }
    if (t.unread > 0) {
      b.classList.add('has-unread');
      const u = el('span', 'unread', String(t.unread));
      u.title = t.unread + ' unread';
      b.appendChild(u);
      total += t.unread;
    }
    b.setAttribute('aria-label', (t.kind === 'room' ? 'room ' + t.name : 'conversation with ' + t.name) +
      (t.unread ? ', ' + t.unread + ' unread' : '') + (t.mention ? ', mentioned' : ''));
    b.addEventListener('click', () => { switchTo(t.key); $('input').focus(); });
    li.appendChild(b);
    (t.kind === 'room' ? rooms : dms).appendChild(li);
    t.btn = b;
  }
  document.title = (total ? '(' + total + ') ' : '') + (state.server || 'parley');
}

function renderMembers() {
  const t = cur();
  const ul = $('members');
  ul.textContent = '';
  const names = t.kind === 'room' ? t.members : [state.me, t.name];
  $('member-count').textContent = t.kind === 'room' ? '(' + names.length + ')' : '';
  for (const n of names) {
    const li = el('li');
    const b = el('button');
    b.type = 'button';
    b.appendChild(nick(n));
    if (n === state.me) b.classList.add('self');
    b.title = n === state.me ? 'you' : 'message ' + n;
    b.addEventListener('click', () => { if (n !== state.me) { switchTo(dmTab(n).key); $('input').focus(); } });
    li.appendChild(b);
    ul.appendChild(li);
  }
}

function renderOlder(t) {
  const btn = $('btn-older');
  const note = $('older-note');
  btn.hidden = t.kind === 'dm' || t.atStart;
  btn.textContent = t.loadingOlder ? 'loading older messages…' : 'Load older messages';
  btn.disabled = t.loadingOlder;
  note.textContent = t.kind === 'dm' ? 'direct messages since you connected' : t.atStart ? 'the beginning of #' + t.name : '';
}

// ---- message rendering --------------------------------------------------

function hue(name) {
  let h = 5381;
  for (const ch of name.toLowerCase()) h = ((h * 33) ^ ch.codePointAt(0)) >>> 0;
  return h % 360;
}

function nick(name) {
  const s = el('span', 'nick', name);
  s.style.setProperty('--hue', String(hue(name)));
  return s;
}

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;

// linkify puts text into parent as text nodes, with links for the http(s)
// URLs in it (and nothing else).
function linkify(parent, text) {
  let at = 0;
  for (const m of text.matchAll(URL_RE)) {
    let raw = m[0];
    // Leave trailing punctuation out, and a closing bracket with no opening.
    while (/[.,;:!?'")\]}]$/.test(raw)) {
      const last = raw[raw.length - 1];
      const open = { ')': '(', ']': '[', '}': '{' }[last];
      if (open && raw.split(open).length > raw.split(last).length - 1) break;
      raw = raw.slice(0, -1);
    }
    let url = null;
    try { url = new URL(raw); } catch { url = null; }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) continue;
    parent.appendChild(document.createTextNode(text.slice(at, m.index)));
    const a = el('a', '', raw);
    a.href = url.href;
    a.rel = 'noopener noreferrer';
    a.target = '_blank';
    parent.appendChild(a);
    at = m.index + raw.length;
  }
  parent.appendChild(document.createTextNode(text.slice(at)));
}

function mentions(text) {
  if (!state.me) return false;
  const esc = state.me.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp('(^|[^\\p{L}\\p{N}_])@?' + esc + '(?![\\p{L}\\p{N}_])', 'iu').test(text);
}

// timeText is the time of day, with the date before it when it is not today.
function timeText(d) {
  const t = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === new Date().toDateString()) return t;
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + t;
}

function atBottom() {
  const log = $('log');
  return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
}

function scrollToBottom() {
  const log = $('log');
  log.scrollTop = log.scrollHeight;
}

// insert places a line in t's pane by its order key: message ids, and
// for other lines just after the newest message when they came.
function insert(t, node, key) {
  node.dataset.seq = String(key);
  const pane = t.pane;
  const showing = t.key === state.current;
  const stick = showing && atBottom();
  let before = null;
  for (let c = pane.lastElementChild; c; c = c.previousElementSibling) {
    if (Number(c.dataset.seq) <= key) break;
    before = c;
  }
  const log = $('log');
  const oldHeight = log.scrollHeight, oldTop = log.scrollTop;
  pane.insertBefore(node, before);
  if (!showing) return;
  if (stick) scrollToBottom();
  else if (before) log.scrollTop = oldTop + (log.scrollHeight - oldHeight); // older lines above: keep the view still
}

function line(t, cls, build, ts, key) {
  const row = el('div', 'msg ' + cls);
  const when = ts ? new Date(ts) : new Date();
  const tm = el('time', '', timeText(when));
  tm.dateTime = when.toISOString();
  tm.title = when.toLocaleString();
  row.appendChild(tm);
  const body = el('span', 'body');
  build(body);
  row.appendChild(body);
  if (key === undefined) key = t.last + (++t.seq) / 1e6;
  insert(t, row, key);
  return row;
}

// system shows a line from the client or the server (not a message).
function system(t, text, cls = 'system') {
  line(t, cls, (b) => b.appendChild(document.createTextNode(text)));
}

function addMessage(ev) {
  const isDM = ev.type === 'dm';
  const peer = isDM ? (ev.from === state.me ? ev.to : ev.from) : '';
  const t = isDM ? dmTab(peer) : roomTab(ev.room);
  if (ev.id && !ev.history && ev.id <= t.last) {
    // A live message never has an older id than one already delivered: the
    // server's history was started afresh (a memory store restarted).
    historyRestarted();
  }
  if (ev.id && t.ids.has(ev.id)) return; // already shown: a resume's overlap
  // Fresh: live, or missed while away (a resume's replay), not history
  // from before we were here.
  const fresh = !ev.history || (t.resumeAfter > 0 && ev.id > t.resumeAfter);
  const ref = ev.ref && state.refs.get(ev.ref);
  if (ref && ev.id) ref.maxId = Math.max(ref.maxId || 0, ev.id);
  if (ev.id) {
    state.maxSeen = Math.max(state.maxSeen, ev.id);
    t.ids.add(ev.id);
    t.first = t.first ? Math.min(t.first, ev.id) : ev.id;
    t.last = Math.max(t.last, ev.id);
  }
  const own = ev.from === state.me;
  const mention = !own && mentions(ev.text || '');
  const cls = (ev.type === 'me' ? 'me-action' : 'say') + (mention ? ' mention' : '') + (own ? ' own' : '');
  const row = line(t, cls, (b) => {
    if (ev.type === 'me') {
      b.appendChild(document.createTextNode('* '));
      b.appendChild(nick(ev.from));
      b.appendChild(document.createTextNode(' '));
    } else {
      b.appendChild(nick(ev.from));
      b.appendChild(document.createTextNode(': '));
    }
    linkify(b, ev.text || '');
  }, ev.ts, ev.id || undefined);
  row.dataset.id = String(ev.id || '');
  row.dataset.from = ev.from;
  if (fresh && !own) {
    const away = t.key !== state.current || document.hidden;
    if (t.key !== state.current) {
      t.unread++;
      if (mention || isDM) t.mention = true;
      renderTabs();
    }
    if (away && (mention || isDM)) notify(t, ev);
  }
}

// historyRestarted forgets every id: the server's start afresh.
function historyRestarted() {
  state.maxSeen = 0;
  for (const t of state.tabs.values()) {
    t.pane.textContent = '';
    t.ids.clear();
    t.first = t.last = 0;
    t.atStart = t.kind === 'dm';
    system(t, 'the server started its history afresh; earlier messages are gone');
  }
  renderOlder(cur());
}

function notify(t, ev) {
  if (!state.notify || !('Notification' in window) || Notification.permission !== 'granted') return;
  const title = t.kind === 'dm' ? ev.from : ev.from + ' in #' + t.name;
  try {
    const n = new Notification(title, { body: (ev.text || '').slice(0, 300), tag: t.key });
    n.onclick = () => { window.focus(); switchTo(t.key); n.close(); };
  } catch { /* some browsers allow notifications only from a service worker */ }
}

// ---- connection -----------------------------------------------------------

function setStatus(s, text) {
  const st = $('status');
  st.dataset.state = s;
  st.textContent = text;
  $('btn-retry').hidden = s !== 'reconnecting';
  $('compose').classList.toggle('disabled', s !== 'online');
}

function wsURL() {
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
}

function connect() {
  clearTimeout(state.retryTimer);
  clearInterval(state.countdown);
  clearTimeout(state.nameTimer);
  if (!state.wantOnline) return;
  if (state.ws) { state.ws.onclose = null; state.ws.close(); }
  state.online = false;
  setStatus('connecting', state.everOnline ? 'reconnecting…' : 'connecting…');
  let ws;
  try { ws = new WebSocket(wsURL()); } catch (e) { scheduleReconnect(); return; }
  state.ws = ws;
  ws.onopen = () => hello();
  ws.onmessage = (m) => {
    state.lastRecv = Date.now();
    let ev;
    try { ev = JSON.parse(m.data); } catch { return; }
    if (!ev || typeof ev !== 'object' || typeof ev.type !== 'string') return;
    try { handle(ev); } catch (err) { console.warn('parley: an event could not be shown', ev.type, err); }
  };
  ws.onclose = (e) => {
    if (state.ws !== ws) return;
    state.ws = null;
    const was = state.online;
    state.online = false;
    clearInterval(state.pingTimer);
    for (const t of state.tabs.values()) t.loadingOlder = false;
    if (!state.wantOnline) { setStatus('offline', 'offline'); return; }
    if (!state.everOnline) {
      // Not in yet: say so on the login form instead of retrying unseen.
      if (!$('login-error').textContent || $('login-view').hidden) loginError('could not reach the server' + (e.reason ? ': ' + e.reason : '') + '; try again');
      return;
    }
    if (was) system(cur(), 'connection lost; reconnecting…');
    scheduleReconnect();
  };
}

function hello() {
  const rooms = [], since = {};
  // Ids are global and every session gets its messages in id order: in a
  // room we were in, everything up to the newest id we saw anywhere has
  // reached us, so each room resumes after that.
  for (const t of state.tabs.values()) {
    t.resumeAfter = 0;
    if (t.kind !== 'room' || !t.joined) continue;
    if (t.name !== 'lobby') rooms.push(t.name);
    const after = Math.max(t.last, state.maxSeen);
    if (after > 0 && state.everOnline) since[t.name] = t.resumeAfter = after;
  }
  const h = { type: 'hello', name: state.me, version: PROTOCOL_VERSION, client: 'parley-web/1' };
  if (state.password) h.password = state.password;
  if (rooms.length) h.rooms = rooms;
  if (Object.keys(since).length) h.since = since;
  // Every message up to maxSeen has reached us, direct messages too: an
  // account's direct messages resume after it.
  if (state.everOnline && state.maxSeen > 0) h.dm_since = state.maxSeen;
  rawSend(h);
}

function scheduleReconnect() {
  clearTimeout(state.retryTimer);
  const base = Math.min(MAX_BACKOFF, 500 * 2 ** state.attempt);
  const wait = Math.round(base * (0.75 + Math.random() * 0.5));
  state.attempt++;
  state.retryAt = Date.now() + wait;
  const tick = () => {
    const left = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
    setStatus('reconnecting', 'offline — reconnecting in ' + left + ' s');
  };
  tick();
  clearInterval(state.countdown);
  state.countdown = setInterval(tick, 1000);
  state.retryTimer = setTimeout(connect, wait);
}

function rawSend(obj) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
  state.ws.send(JSON.stringify(obj));
  return true;
}

// send sends a request for tab t (errors it causes are shown there).
function send(req, t) {
  if (!state.online) return false;
  req.ref = 'w' + (++state.refSeq);
  state.refs.set(req.ref, { tab: (t || cur()).key, what: req.type, after: req.after || 0 });
  if (state.refs.size > 1000) state.refs.delete(state.refs.keys().next().value);
  return rawSend(req);
}

function startPings() {
  clearInterval(state.pingTimer);
  state.pingTimer = setInterval(() => {
    if (!state.online) return;
    const quiet = Date.now() - state.lastRecv;
    if (quiet > PING_EVERY + PONG_WITHIN) { state.ws && state.ws.close(); return; }
    if (quiet > PING_EVERY) rawSend({ type: 'ping' });
  }, PONG_WITHIN / 2);
}

// ---- events ------------------------------------------------------------------

function handle(ev) {
  const ref = ev.ref ? state.refs.get(ev.ref) : null;
  const refTab = ref ? state.tabs.get(ref.tab) : null;
  switch (ev.type) {
  case 'welcome': return welcome(ev);
  case 'say': case 'me': case 'dm':
    return addMessage(ev);
  case 'history_end': return historyEnd(ev, ref);
  case 'join': {
    const t = roomTab(ev.room);
    if (ev.name === state.me) {
      const wasJoined = t.joined && t.seenJoin;
      t.joined = true;
      t.seenJoin = true;
      if (!wasJoined) system(t, 'you joined #' + t.name);
      if (t.name === 'lobby' && state.greeting) { for (const g of state.greeting) system(t, g); state.greeting = null; }
      if (state.wantJoin.delete(t.name)) switchTo(t.key); // asks for the members
      else { askWho(t); if (t.key === state.current) renderMembers(); }
      maybeLoadOlder();
    } else {
      if (!t.members.includes(ev.name)) { t.members.push(ev.name); t.members.sort(cmpNames); }
      system(t, ev.name + ' joined');
      if (t.key === state.current) renderMembers();
    }
    return;
  }
  case 'part': {
    const t = roomTab(ev.room, false);
    if (!t) return;
    if (ev.name === state.me) { t.joined = false; closeTab(t); return; }
    t.members = t.members.filter((n) => n !== ev.name);
    system(t, ev.name + ' left' + (ev.reason ? ' (' + ev.reason + ')' : ''));
    if (t.key === state.current) renderMembers();
    return;
  }
  case 'nick': {
    const self = ev.old === state.me;
    if (self) { state.me = ev.name; localStorage.setItem('parley.name', ev.name); }
    for (const t of state.tabs.values()) {
      if (t.kind === 'room' && (self || t.members.includes(ev.old))) {
        t.members = t.members.map((n) => (n === ev.old ? ev.name : n)).sort(cmpNames);
        system(t, self ? 'you are now ' + ev.name : ev.old + ' is now ' + ev.name);
      }
      if (t.kind === 'dm' && t.name === ev.old) system(t, ev.old + ' is now ' + ev.name + ' (messages here still go to ' + ev.old + ')');
    }
    renderMembers();
    return;
  }
  case 'topic': {
    const t = roomTab(ev.room, false);
    if (!t) return;
    const changed = t.topic !== (ev.text || '');
    t.topic = ev.text || '';
    if (t.key === state.current) $('tab-topic').textContent = t.topic;
    if (ref || changed) system(t, t.topic ? 'topic: ' + t.topic + (ev.from ? ' (set by ' + ev.from + ')' : '') : 'no topic is set');
    return;
  }
  case 'members': return members(ev, refTab);
  case 'rooms': return showRooms(ev);
  case 'notice': return system(refTab || cur(), ev.text || '');
  case 'user_notice': { // an IRC NOTICE: shown, never answered
    const t = ev.room ? roomTab(ev.room, false) : cur();
    return system(t || cur(), 'notice from ' + (ev.from || '?') + ': ' + (ev.text || ''));
  }
  case 'away': return; // presence is shown by IRC clients only, for now
  case 'error': return error(ev, refTab);
  case 'ping': rawSend({ type: 'pong' }); return;
  case 'pong': return;
  case 'bye':
    if (ev.reason === 'goodbye' || !state.wantOnline) {
      state.wantOnline = false;
      state.everOnline = false;
      system(cur(), 'you left the chat');
      setStatus('offline', 'offline');
      showLogin('You left the chat. Join again?');
    } else {
      system(cur(), 'the server said: ' + (ev.reason || 'goodbye') + '; reconnecting…');
    }
    return;
  }
}

function cmpNames(a, b) { return a.toLowerCase().localeCompare(b.toLowerCase()); }

function welcome(ev) {
  const first = !state.everOnline;
  state.online = true;
  state.everOnline = true;
  state.attempt = 0;
  state.nameRetries = 0;
  state.me = ev.name;
  state.server = ev.server || 'parley';
  state.maxBytes = ev.max_message_bytes || state.maxBytes;
  localStorage.setItem('parley.name', ev.name);
  setStatus('online', 'online as ' + ev.name);
  startPings();
  $('login-view').hidden = true;
  $('chat-view').hidden = false;
  const lobby = roomTab('lobby');
  if (first) {
    switchTo(lobby.key);
    // Shown after the lobby's history, when its join comes.
    state.greeting = (ev.motd ? [ev.motd] : []).concat(['welcome to ' + state.server + ', ' + ev.name + '. /help lists the commands.']);
    $('input').focus();
  } else {
    system(cur(), 'reconnected');
  }
  renderTabs();
}

function historyEnd(ev, ref) {
  if (ev.text === 'history_gone') {
    const t = roomTab(ev.room || 'lobby', false);
    if (t) system(t, 'some messages from while you were away are older than the server keeps: there is a gap here', 'error');
  }
  if (!ref) {
    // The end of a join's replay or a resume. A resume cut short: page on.
    const t = ev.room ? roomTab(ev.room, false) : null;
    if (t && ev.text === 'more' && t.last) send({ type: 'history', room: t.name, after: t.last, limit: 1000 }, t);
    return;
  }
  state.refs.delete(ev.ref);
  const t = state.tabs.get(ref.tab);
  if (!t) return;
  if (ref.what === 'history' && ref.after) {
    // Page on after the newest id of this page: live messages that came
    // meanwhile have higher ids, and the ones between must not be skipped.
    if (ev.text === 'more' && ref.maxId) send({ type: 'history', room: t.name, after: ref.maxId, limit: 1000 }, t);
    return;
  }
  t.loadingOlder = false;
  if (ev.text !== 'more') t.atStart = true;
  if (t.key === state.current) renderOlder(t);
  maybeLoadOlder();
}

// askWho asks for a room's member list; replies to earlier asks are
// ignored, so that pages of two lists never mix.
function askWho(t, cursor) {
  if (!cursor) t.membersNext = [];
  const req = { type: 'who', room: t.name };
  if (cursor) req.cursor = cursor;
  if (send(req, t)) t.whoRef = req.ref;
}

function members(ev, refTab) {
  const names = Array.isArray(ev.members) ? ev.members.filter((n) => typeof n === 'string') : [];
  const t = roomTab(ev.room || '', false);
  if (!t || !t.joined) {
    // /who of a room we are not in: shown, not kept.
    system(refTab || cur(), 'members of #' + (ev.room || '?') + ': ' + (names.join(', ') || 'nobody') + (ev.text === 'more' ? ', …' : ''));
    return;
  }
  if (ev.ref !== t.whoRef) return; // an older ask's page
  const acc = (t.membersNext || []).concat(names);
  if (ev.text === 'more' && names.length) {
    t.membersNext = acc;
    askWho(t, names[names.length - 1]);
    return;
  }
  t.membersNext = null;
  t.whoRef = '';
  t.members = [...new Set(acc)].sort(cmpNames);
  if (t.key === state.current) renderMembers();
}

function error(ev, t) {
  const msg = ev.message || ev.code || 'error';
  if (!state.online) return handshakeError(ev);
  const ref = ev.ref && state.refs.get(ev.ref);
  if (ref && t) {
    if (ref.what === 'history' && !ref.after) { t.loadingOlder = false; if (t.key === state.current) renderOlder(t); }
    if (ref.what === 'who') { t.membersNext = null; t.whoRef = ''; }
    if (ref.what === 'join') state.wantJoin.clear();
    state.refs.delete(ev.ref);
  }
  if (ev.code === 'not_member' && t && t.kind === 'room') t.joined = false;
  system(t || cur(), msg, 'error');
}

function handshakeError(ev) {
  const msg = ev.message || ev.code;
  switch (ev.code) {
  case 'name_taken':
    if (state.everOnline && state.wantOnline && state.nameRetries < 3) {
      // Our previous connection may not have been noticed gone yet. The
      // tries (1 + 2 + 3 s) stay within the server's handshake deadline.
      state.nameRetries++;
      setStatus('reconnecting', 'waiting for your old connection to end…');
      const ws = state.ws;
      clearTimeout(state.nameTimer);
      state.nameTimer = setTimeout(() => { if (!state.online && state.ws === ws && state.wantOnline) hello(); }, 1000 * state.nameRetries);
      return;
    }
    loginError(msg + '. Pick another name.');
    return;
  case 'name_invalid': case 'name_reserved':
    loginError(msg);
    return;
  case 'auth_failed': case 'name_registered':
    // A registered name needs its account's password (the same field).
    state.password = '';
    state.wantOnline = false;
    loginError(msg, 'password');
    return;
  case 'banned':
    state.wantOnline = false;
    loginError(msg);
    return;
  case 'server_full': case 'shutting_down':
    setStatus('reconnecting', msg);
    return; // the server closes; we try again later
  default:
    loginError(msg);
  }
}

// ---- login ----------------------------------------------------------------

function showLogin(msg) {
  $('chat-view').hidden = true;
  $('login-view').hidden = false;
  const e = $('login-error');
  e.hidden = !msg;
  e.textContent = msg || '';
  $('join-btn').disabled = false;
  $('name').focus();
}

function loginError(msg, field = 'name') {
  if (state.everOnline && state.online) { system(cur(), msg, 'error'); return; }
  // Back to the login form: no reconnecting under the old name meanwhile.
  state.everOnline = false;
  state.wantOnline = false;
  stopReconnecting();
  dropSocket();
  setStatus('offline', 'offline');
  showLogin(msg);
  $(field).focus();
  $(field).select();
}

function startLogin(e) {
  e.preventDefault();
  const name = $('name').value.trim();
  if (!name) return;
  state.password = $('password').value;
  $('login-error').hidden = true;
  $('join-btn').disabled = true;
  setTimeout(() => { $('join-btn').disabled = false; }, 1500);
  state.wantOnline = true;
  if (state.me && state.me !== name) {
    // A new name: start afresh (another user on this page).
    state.tabs.clear();
    state.refs.clear();
    state.maxSeen = 0;
    state.hist = [];
    state.histPos = 0;
    roomTab('lobby');
    switchTo('#lobby');
  }
  state.me = name;
  state.nameRetries = 0;
  connect();
}

// ---- input ------------------------------------------------------------------

function byteLength(s) { return state.encoder.encode(s).length; }

function submit(e) {
  if (e) e.preventDefault();
  const input = $('input');
  const text = input.value;
  if (!text.trim()) return;
  if (state.hist[state.hist.length - 1] !== text) state.hist.push(text);
  if (state.hist.length > 200) state.hist.shift();
  state.histPos = state.hist.length;
  state.draft = '';
  if (run(text)) {
    input.value = '';
    autosize();
  }
}

// run executes one input line; it reports whether the input may be cleared.
function run(text) {
  const t = cur();
  const offline = () => { system(t, 'not sent: not connected (your text is still in the input)', 'error'); return false; };
  let m = /^\/(\S+)\s*([\s\S]*)$/.exec(text);
  if (text.startsWith('//')) m = null;
  if (!m) {
    const msg = text.startsWith('//') ? text.slice(1) : text;
    if (byteLength(msg) > state.maxBytes) { system(t, 'too long: at most ' + state.maxBytes + ' bytes', 'error'); return false; }
    if (!state.online) return offline();
    if (t.kind === 'dm') return send({ type: 'dm', to: t.name, text: msg }, t);
    return send({ type: 'say', room: t.name, text: msg }, t);
  }
  const name = m[1].toLowerCase();
  const rest = m[2].trim();
  const args = rest ? rest.split(/\s+/) : [];
  switch (name) {
  case 'help': case '?':
    if (!state.online) return offline();
    send({ type: 'command', text: text }, t);
    if (!args.length) system(t, 'in this app also:\n' + CLIENT_COMMANDS.map(([c, h]) => '  ' + c.padEnd(18) + h).join('\n') +
      '\nkeys: Alt+↑/↓ or Alt+1…9 switch windows; ↑/↓ recall input; Tab completes names; Esc closes panels');
    return true;
  case 'members': toggleMembers(); return true;
  case 'clear': t.pane.textContent = ''; t.ids.clear(); t.first = 0; t.cleared = true; renderOlder(t); return true;
  case 'query':
    if (!args[0]) { system(t, 'usage: /query NAME', 'error'); return true; }
    switchTo(dmTab(args[0]).key);
    return true;
  case 'close':
    if (t.kind === 'dm') { closeTab(t); return true; }
    if (!state.online) return offline();
    return send({ type: 'part', room: t.name }, t);
  case 'quit': case 'exit': case 'bye':
    quit(rest);
    return true;
  }
  if (!state.online) return offline();
  switch (name) {
  case 'join': case 'j': {
    if (!args[0]) break;
    const room = args[0].replace(/^#/, '');
    const have = state.tabs.get(roomKey(room));
    if (have && have.joined) { switchTo(have.key); return true; }
    state.wantJoin.add(room.toLowerCase());
    return send({ type: 'join', room }, t);
  }
  case 'part': case 'leave': {
    let room = t.name, reason = rest;
    const a = (args[0] || '').replace(/^#/, '');
    if (a && state.tabs.has(roomKey(a))) { room = a; reason = rest.slice(args[0].length).trim(); }
    if (t.kind === 'dm' && room === t.name) { closeTab(t); return true; }
    return send({ type: 'part', room, reason }, t);
  }
  case 'me':
    if (!rest) break;
    if (t.kind === 'dm') return send({ type: 'dm', to: t.name, text: '* ' + state.me + ' ' + rest }, t);
    return send({ type: 'me', room: t.name, text: rest }, t);
  case 'msg': case 'dm': case 'tell': {
    if (args.length < 2) break;
    const to = args[0];
    const body = rest.slice(to.length).replace(/^[ \t]+/, '');
    switchTo(dmTab(to).key);
    return send({ type: 'dm', to, text: body }, cur());
  }
  case 'topic': {
    if (t.kind === 'dm') { system(t, 'a conversation has no topic', 'error'); return true; }
    const req = { type: 'topic', room: t.name };
    if (rest) req.text = rest;
    return send(req, t);
  }
  case 'who': case 'names': {
    const room = args[0] ? args[0].replace(/^#/, '') : t.name;
    if (!args[0] && t.kind === 'dm') { system(t, 'this is a conversation with ' + t.name + ', not a room: /who ROOM lists a room\'s members', 'error'); return true; }
    const rt = roomTab(room, false);
    if (rt && rt.joined) {
      askWho(rt);
      const names = rt.members;
      system(t, 'members of #' + rt.name + ' (' + names.length + '): ' + names.join(', '));
      return true;
    }
    return send({ type: 'who', room }, t);
  }
  }
  // everything else (and usage errors) goes through the server's table
  return send({ type: 'command', text: text }, t);
}

function quit(reason) {
  state.wantOnline = false;
  stopReconnecting();
  if (!send({ type: 'quit', reason: reason || 'leaving' })) {
    dropSocket();
    state.everOnline = false;
    setStatus('offline', 'offline');
    showLogin('');
  }
}

function stopReconnecting() {
  clearTimeout(state.retryTimer);
  clearInterval(state.countdown);
  clearTimeout(state.nameTimer);
}

// dropSocket closes the connection without reconnecting.
function dropSocket() {
  const ws = state.ws;
  state.ws = null;
  state.online = false;
  clearInterval(state.pingTimer);
  if (ws) { ws.onclose = null; ws.close(); }
}

function autosize() {
  const i = $('input');
  i.style.height = 'auto';
  i.style.height = Math.min(i.scrollHeight + 2, 160) + 'px';
}

function completeName(input) {
  const pos = input.selectionStart;
  if (pos !== input.selectionEnd) return false;
  const before = input.value.slice(0, pos);
  const m = /(\S+)$/.exec(before);
  if (!m) return false;
  const word = m[1].toLowerCase();
  const t = cur();
  const pool = word.startsWith('/')
    ? ['/join', '/part', '/msg', '/me', '/nick', '/topic', '/who', '/rooms', '/help', '/quit', '/query', '/close', '/members', '/clear']
    : (t.kind === 'room' ? t.members : [t.name]).filter((n) => n !== state.me);
  const hit = pool.find((n) => n.toLowerCase().startsWith(word) && n.toLowerCase() !== word);
  if (!hit) return false;
  const suffix = word.startsWith('/') ? ' ' : (before.length === m[1].length ? ': ' : ' ');
  input.value = before.slice(0, pos - m[1].length) + hit + suffix + input.value.slice(pos);
  const at = pos - m[1].length + hit.length + suffix.length;
  input.setSelectionRange(at, at);
  return true;
}

function onInputKey(e) {
  const input = e.target;
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); return; }
  if (e.key === 'Tab' && !e.shiftKey && input.value && completeName(input)) { e.preventDefault(); return; }
  const firstLine = !input.value.slice(0, input.selectionStart).includes('\n');
  const lastLine = !input.value.slice(input.selectionEnd).includes('\n');
  if (e.key === 'ArrowUp' && !e.altKey && firstLine && state.hist.length && state.histPos > 0) {
    e.preventDefault();
    if (state.histPos === state.hist.length) state.draft = input.value;
    state.histPos--;
    input.value = state.hist[state.histPos];
    autosize();
  } else if (e.key === 'ArrowDown' && !e.altKey && lastLine && state.histPos < state.hist.length) {
    e.preventDefault();
    state.histPos++;
    input.value = state.histPos === state.hist.length ? state.draft : state.hist[state.histPos];
    autosize();
  } else if (e.key === 'Escape') {
    if (!closeDrawers()) { input.value = ''; autosize(); }
  }
}

function onGlobalKey(e) {
  if (!e.altKey || $('chat-view').hidden) return;
  const keys = [...state.tabs.values()].sort((a, b) =>
    (a.kind === b.kind ? 0 : a.kind === 'room' ? -1 : 1) ||
    (a.name === 'lobby' ? -1 : b.name === 'lobby' ? 1 : a.name.localeCompare(b.name))).map((t) => t.key);
  const i = keys.indexOf(state.current);
  let next = null;
  if (e.key === 'ArrowDown') next = keys[(i + 1) % keys.length];
  else if (e.key === 'ArrowUp') next = keys[(i - 1 + keys.length) % keys.length];
  else if (/^[1-9]$/.test(e.key)) next = keys[Number(e.key) - 1];
  if (next) { e.preventDefault(); switchTo(next); $('input').focus(); }
}

// ---- scroll-back ---------------------------------------------------------------

function loadOlder(t) {
  if (!t || t.kind !== 'room' || t.atStart || t.loadingOlder || !state.online || !t.joined) return;
  const req = { type: 'history', room: t.name, limit: PAGE };
  if (t.first) req.before = t.first;
  t.loadingOlder = true;
  send(req, t);
  if (t.key === state.current) renderOlder(t);
}

// maybeLoadOlder loads a page when the view is scrolled to its top or is
// not full yet.
function maybeLoadOlder() {
  const log = $('log');
  const t = cur();
  if (t.cleared) return; // after /clear, older messages come back only when asked for
  if (log.scrollTop < 150 || log.scrollHeight <= log.clientHeight) loadOlder(t);
}

// ---- panels, dialogs ------------------------------------------------------------

function narrow() { return window.matchMedia('(max-width: 760px)').matches; }

function toggleMembers() {
  const v = $('chat-view');
  if (narrow()) {
    v.classList.toggle('show-members');
    v.classList.remove('show-sidebar');
  } else {
    v.classList.toggle('no-members');
    localStorage.setItem('parley.members', v.classList.contains('no-members') ? 'off' : 'on');
  }
  $('toggle-members').setAttribute('aria-expanded', String(narrow() ? v.classList.contains('show-members') : !v.classList.contains('no-members')));
}

function toggleSidebar() {
  const v = $('chat-view');
  v.classList.toggle('show-sidebar');
  v.classList.remove('show-members');
  const open = v.classList.contains('show-sidebar');
  $('toggle-sidebar').setAttribute('aria-expanded', String(open));
  if (open) { const b = document.querySelector('.tab[aria-current]'); if (b) b.focus(); }
}

function closeDrawers() {
  const v = $('chat-view');
  const open = v.classList.contains('show-sidebar') || v.classList.contains('show-members');
  v.classList.remove('show-sidebar', 'show-members');
  $('toggle-sidebar').setAttribute('aria-expanded', 'false');
  return open;
}

// ask shows the dialog with an input and resolves to its value, or null.
function ask(title, label, value) {
  const d = $('dialog');
  $('dialog-title').textContent = title;
  $('dialog-body').textContent = '';
  $('dialog-label').textContent = label;
  $('dialog-label').hidden = false;
  const input = $('dialog-input');
  input.hidden = false;
  input.value = value || '';
  $('dialog-ok').hidden = false;
  return new Promise((resolve) => {
    d.onclose = () => resolve(d.returnValue === 'ok' ? input.value : null);
    d.returnValue = '';
    d.showModal();
    input.focus();
    input.select();
  });
}

function showRooms(ev) {
  const d = $('dialog');
  $('dialog-title').textContent = 'Rooms on ' + state.server;
  $('dialog-label').hidden = true;
  $('dialog-input').hidden = true;
  $('dialog-ok').hidden = true;
  const body = $('dialog-body');
  if (!d.open) body.textContent = '';
  let ul = body.querySelector('ul');
  if (!ul) { ul = el('ul'); body.appendChild(ul); }
  for (const r of ev.rooms || []) {
    const li = el('li');
    li.appendChild(el('span', 'room-name', '#' + r.name));
    li.appendChild(el('span', 'muted', (r.members || 0) + (r.members === 1 ? ' member' : ' members')));
    li.appendChild(el('span', 'room-topic', r.topic || ''));
    const b = el('button', '', state.tabs.get(roomKey(r.name)) ? 'Open' : 'Join');
    b.type = 'button';
    b.addEventListener('click', () => { d.close(); run('/join ' + r.name); });
    li.appendChild(b);
    ul.appendChild(li);
  }
  const more = body.querySelector('.more-rooms');
  if (more) more.remove();
  if (ev.text === 'more' && ev.rooms && ev.rooms.length) {
    const b = el('button', 'link-btn more-rooms', 'more rooms…');
    b.type = 'button';
    const after = ev.rooms[ev.rooms.length - 1].name;
    b.addEventListener('click', () => send({ type: 'rooms', cursor: after }));
    body.appendChild(b);
  }
  if (!d.open) { d.returnValue = ''; d.onclose = null; d.showModal(); }
}

function applyTheme() {
  const root = document.documentElement;
  if (state.theme === 'auto') delete root.dataset.theme;
  else root.dataset.theme = state.theme;
  $('btn-theme').textContent = 'Theme: ' + state.theme;
}

function renderNotify() {
  const b = $('btn-notify');
  b.textContent = 'Notifications: ' + (state.notify ? 'on' : 'off');
  b.setAttribute('aria-pressed', String(state.notify));
}

// ---- wiring ---------------------------------------------------------------------

function init() {
  $('name').value = localStorage.getItem('parley.name') || '';
  $('login').addEventListener('submit', startLogin);
  $('compose').addEventListener('submit', submit);
  const input = $('input');
  input.addEventListener('keydown', onInputKey);
  input.addEventListener('input', autosize);
  document.addEventListener('keydown', onGlobalKey);
  $('log').addEventListener('scroll', () => { if ($('log').scrollTop < 150 && !cur().cleared) loadOlder(cur()); }, { passive: true });
  $('btn-older').addEventListener('click', () => { cur().cleared = false; loadOlder(cur()); });
  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const r = $('join-room').value.trim();
    if (r && run('/join ' + r)) $('join-room').value = '';
  });
  $('dm-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const n = $('dm-name').value.trim();
    if (n) { run('/query ' + n); $('dm-name').value = ''; $('input').focus(); }
  });
  $('btn-rooms').addEventListener('click', () => { if (!send({ type: 'rooms' })) system(cur(), 'not connected', 'error'); });
  $('btn-topic').addEventListener('click', async () => {
    const t = cur();
    if (t.kind !== 'room') return;
    const v = await ask('Topic of #' + t.name, 'New topic', t.topic);
    if (v !== null && v.trim()) run('/topic ' + v);
    $('input').focus();
  });
  $('btn-leave').addEventListener('click', () => { run('/close'); $('input').focus(); });
  $('toggle-members').addEventListener('click', toggleMembers);
  $('toggle-sidebar').addEventListener('click', toggleSidebar);
  $('btn-retry').addEventListener('click', () => { state.attempt = 0; connect(); });
  $('btn-quit').addEventListener('click', () => quit(''));
  $('btn-theme').addEventListener('click', () => {
    state.theme = { auto: 'light', light: 'dark', dark: 'auto' }[state.theme] || 'auto';
    localStorage.setItem('parley.theme', state.theme);
    applyTheme();
  });
  $('btn-notify').addEventListener('click', async () => {
    if (!state.notify && 'Notification' in window && Notification.permission !== 'granted') {
      const p = await Notification.requestPermission();
      if (p !== 'granted') { system(cur(), 'the browser did not allow notifications', 'error'); return; }
    }
    state.notify = !state.notify;
    localStorage.setItem('parley.notify', state.notify ? 'on' : 'off');
    renderNotify();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) { const t = cur(); if (t.unread) { t.unread = 0; t.mention = false; renderTabs(); } }
  });
  if (localStorage.getItem('parley.members') === 'off') $('chat-view').classList.add('no-members');
  applyTheme();
  renderNotify();
  roomTab('lobby');
  switchTo('#lobby');
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get('name')) $('name').value = params.get('name');
}

init();
