// The customer's chat thread: sends messages and "Call me back" requests through the outbox
// (outbox.js), listens on the events socket for new messages and typing, catches up after a
// reconnect, and reports reading.
const root = document.getElementById("chat");
const outbox = self.pdOutbox;

const TYPING_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 6000;
const BACKOFF_MAX_MS = 30000;

function wsBase(configured) {
  if (configured) return configured.endsWith("/") ? configured : `${configured}/`;
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/`;
}

function newId() {
  if (self.crypto && crypto.randomUUID) return crypto.randomUUID();
  // Pages served over plain http (not a secure context) have no randomUUID.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function clock(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function start(root) {
  const config = root.dataset;
  const api = config.api;
  const thread = document.getElementById("thread");
  const form = document.getElementById("composer");
  const input = form.elements.text;
  const statusLine = document.getElementById("chat-status");
  const typingLine = document.getElementById("typing");
  const state = {
    conversation: config.conversation || null,
    draft: config.conversation ? null : newId(),
    socket: null,
    attempts: 0,
    typingSentAt: 0,
    typingTimer: null,
    fetching: null,
    fetchAgain: false,
    lastListed: undefined,
    retryTimer: null,
    unread: true,
  };

  // --- rendering ------------------------------------------------------------------------
  function status(text) {
    statusLine.textContent = text || "";
    statusLine.hidden = !text;
  }

  function bubble(mine, text, iso, kind) {
    const item = document.createElement("li");
    item.className = `msg ${mine ? "mine" : "theirs"}`;
    const who = document.createElement("span");
    who.className = "sr";
    who.textContent = `${mine ? config.labelYou : config.labelSupport}:`;
    item.append(who);
    const callback = kind === "callback_request";
    if (callback) {
      // A request to be called back: its label, then the customer's note if they wrote one.
      const label = document.createElement("p");
      label.className = "callback";
      const icon = document.createElement("span");
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = "📞";
      label.append(icon, ` ${config.labelCallback}`);
      item.append(label);
    }
    if (text || !callback) {
      const body = document.createElement("p");
      body.className = "text";
      body.textContent = text;
      item.append(body);
    }
    const meta = document.createElement("span");
    meta.className = "meta";
    const time = document.createElement("time");
    time.dateTime = iso;
    time.textContent = clock(iso);
    meta.append(time);
    item.append(meta);
    return item;
  }

  function setState(item, label, className) {
    item.classList.remove("sending", "failed");
    let badge = item.querySelector(".state");
    if (!label) {
      if (badge) badge.remove();
      return;
    }
    item.classList.add(className);
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "state";
      item.querySelector(".meta").append(badge);
    }
    badge.textContent = label;
  }

  function append(item) {
    const empty = document.getElementById("thread-empty");
    if (empty) empty.remove();
    thread.append(item);
    item.scrollIntoView({ block: "end" });
  }

  function pendingLabel() {
    return navigator.onLine ? config.labelSending : config.labelWaiting;
  }

  function showPending(entry) {
    if (thread.querySelector(`[data-client-id="${CSS.escape(entry.client_id)}"]`)) return;
    const item = bubble(true, entry.text, new Date(entry.at).toISOString(), entry.kind);
    item.dataset.clientId = entry.client_id;
    setState(item, pendingLabel(), "sending");
    append(item);
  }

  // A message from the server: confirms a pending bubble or adds a new one, never twice.
  function show(message) {
    if (thread.querySelector(`[data-message-id="${CSS.escape(message.id)}"]`)) return false;
    const mine = message.sender === "customer";
    let item = message.client_id
      ? thread.querySelector(`[data-client-id="${CSS.escape(message.client_id)}"]`)
      : null;
    if (item) {
      setState(item, "", "");
      item.querySelector("time").dateTime = message.created_at;
      item.querySelector("time").textContent = clock(message.created_at);
    } else {
      item = bubble(mine, message.text, message.created_at, message.kind);
      if (message.client_id) item.dataset.clientId = message.client_id;
      append(item);
    }
    item.dataset.messageId = message.id;
    if (!mine) {
      typingLine.hidden = true;
      state.unread = true;
    }
    return true;
  }

  // The newest message the server listed (in the server's order, unlike the page, where a
  // message sent offline may sit above a reply written before it reached the server).
  function lastListedId() {
    if (state.lastListed === undefined) {
      const shown = thread.querySelectorAll("[data-message-id]");
      state.lastListed = shown.length ? shown[shown.length - 1].dataset.messageId : "";
    }
    return state.lastListed;
  }

  // --- server reads -----------------------------------------------------------------------
  function adoptConversation(id) {
    if (state.conversation || !id) return;
    state.conversation = id;
    root.dataset.conversation = id;
    form.action = `${config.threadUrl}${encodeURIComponent(id)}/`;
    history.replaceState(null, "", form.action);
  }

  // Fetch what is newer than the last message shown (after a push or a reconnect).
  function catchUp() {
    if (!state.conversation) return Promise.resolve();
    if (state.fetching) {
      state.fetchAgain = true;
      return state.fetching;
    }
    state.fetching = (async () => {
      do {
        state.fetchAgain = false;
        const last = lastListedId();
        const url = `${api}/${encodeURIComponent(state.conversation)}${last ? `?after=${encodeURIComponent(last)}` : ""}`;
        let response;
        try {
          response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        } catch (error) {
          return;
        }
        if (!response.ok) return;
        const body = await response.json();
        body.messages.forEach(show);
        if (body.messages.length) state.lastListed = body.messages[body.messages.length - 1].id;
      } while (state.fetchAgain);
      markRead();
    })().finally(() => { state.fetching = null; });
    return state.fetching;
  }

  function markRead() {
    if (!state.conversation || !state.unread || document.visibilityState !== "visible") return;
    state.unread = false;
    fetch(`${api}/${encodeURIComponent(state.conversation)}/read`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": config.csrf },
    }).then((response) => { if (!response.ok) state.unread = true; }, () => { state.unread = true; });
  }

  // --- sending ----------------------------------------------------------------------------
  const hooks = {
    sent(entry, message) {
      adoptConversation(message.conversation);
      show(message);
    },
    failed(entry) {
      const item = thread.querySelector(`[data-client-id="${CSS.escape(entry.client_id)}"]`);
      if (item) setState(item, config.labelFailed, "failed");
    },
  };

  function refreshPending() {
    for (const item of thread.querySelectorAll(".msg.sending")) setState(item, pendingLabel(), "sending");
  }

  function flush() {
    return outbox.flush(hooks).then(refreshPending);
  }

  function requestSync() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready
      .then((registration) => registration.sync && registration.sync.register(outbox.TAG))
      .catch(() => {});
  }

  async function queue(text, kind) {
    const entry = {
      client_id: newId(),
      conversation: state.conversation,
      draft: state.conversation ? null : state.draft,
      kind,
      text,
      at: Date.now(),
      csrf: config.csrf,
    };
    showPending(entry);
    await outbox.put(entry);
    requestSync(); // the service worker sends it even if this page is closed first
    flush();
  }

  function submit(event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    queue(text, "text");
  }

  // "Call me back": queued like a message (offline too); its note may be empty.
  function requestCallback(event) {
    event.preventDefault();
    const note = event.target.elements.text;
    const text = note.value.trim();
    note.value = "";
    queue(text, "callback_request");
  }

  function typing() {
    const now = Date.now();
    const socket = state.socket;
    if (!state.conversation || !socket || socket.readyState !== WebSocket.OPEN) return;
    if (now - state.typingSentAt < TYPING_EVERY_MS) return;
    state.typingSentAt = now;
    socket.send(JSON.stringify({ type: "typing", conversation: state.conversation }));
  }

  // --- the events socket ------------------------------------------------------------------
  function receive(event) {
    let push;
    try {
      push = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    const data = push.data || {};
    if (!state.conversation || data.conversation !== state.conversation) return;
    if (push.event === "message.created") {
      catchUp();
    } else if (push.event === "typing" && data.who === "agent") {
      typingLine.hidden = false;
      clearTimeout(state.typingTimer);
      state.typingTimer = setTimeout(() => { typingLine.hidden = true; }, TYPING_SHOWN_MS);
    }
  }

  function connect() {
    if (state.socket) return;
    const socket = new WebSocket(`${wsBase(config.ws)}events`);
    state.socket = socket;
    socket.addEventListener("open", () => {
      state.attempts = 0;
      root.dataset.live = "true";
      status(navigator.onLine ? "" : config.labelOffline);
      catchUp(); // whatever arrived while the socket was down
      flush();
    });
    socket.addEventListener("message", receive);
    socket.addEventListener("close", (event) => {
      state.socket = null;
      root.dataset.live = "false";
      if (event.code === 4401) return; // signed out: a reload shows the sign-in page
      status(navigator.onLine ? config.labelReconnecting : config.labelOffline);
      const delay = Math.min(BACKOFF_MAX_MS, 500 * 2 ** state.attempts) * (0.8 + Math.random() * 0.4);
      state.attempts += 1;
      clearTimeout(state.retryTimer);
      state.retryTimer = setTimeout(connect, delay);
    });
  }

  // --- start ------------------------------------------------------------------------------
  for (const time of thread.querySelectorAll("time[datetime]")) time.textContent = clock(time.dateTime);
  form.addEventListener("submit", submit);
  document.getElementById("callback")?.addEventListener("submit", requestCallback);
  input.addEventListener("input", typing);
  // Enter sends with a keyboard; on a phone it starts a new line and the button sends.
  const enterSends = matchMedia("(pointer: fine)").matches;
  input.addEventListener("keydown", (event) => {
    if (enterSends && event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  window.addEventListener("online", () => {
    status(state.socket ? "" : config.labelReconnecting);
    refreshPending();
    flush();
    clearTimeout(state.retryTimer);
    state.attempts = 0;
    connect();
  });
  window.addEventListener("offline", () => {
    status(config.labelOffline);
    refreshPending();
  });
  document.addEventListener("visibilitychange", markRead);

  outbox.retoken(config.csrf).then(outbox.all).then((waiting) => {
    for (const entry of waiting) {
      if (state.conversation ? entry.conversation === state.conversation : false) showPending(entry);
    }
    flush();
  });
  connect();
  markRead();
}

if (root && outbox) start(root);
