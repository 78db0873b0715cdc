// The agents' console, live: the inbox list and a conversation's thread listen on the events
// websocket and fetch the partials that changed through htmx. No inline script (CSP): the pages
// describe themselves in data-* attributes. Also the reply box's SMS segment counter (the rules
// of pocketdesk/messaging/segments.py), WhatsApp's 24-hour window notice and canned reply
// insertion.
(() => {
  "use strict";
  document.documentElement.classList.add("js");

  // --- SMS segments, as carriers count them -------------------------------------------------
  const GSM7_BASIC = new Set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
      "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
  );
  const GSM7_EXTENSION = new Set("\f^{}\\[~]|€");

  function packed(widths, single, multi) {
    const total = widths.reduce((sum, width) => sum + width, 0);
    if (total <= single) return 1;
    let segments = 1;
    let used = 0;
    for (const width of widths) {
      // A segment never splits an escape sequence or a surrogate pair.
      if (used + width > multi) {
        segments += 1;
        used = 0;
      }
      used += width;
    }
    return segments;
  }

  function smsSegments(body) {
    const chars = Array.from(body); // code points, as Python iterates a str
    if (chars.every((c) => GSM7_BASIC.has(c) || GSM7_EXTENSION.has(c))) {
      const widths = chars.map((c) => (GSM7_EXTENSION.has(c) ? 2 : 1));
      return { encoding: "GSM-7", units: widths.reduce((a, b) => a + b, 0), segments: packed(widths, 160, 153) };
    }
    const widths = chars.map((c) => (c.codePointAt(0) > 0xffff ? 2 : 1));
    return { encoding: "UCS-2", units: widths.reduce((a, b) => a + b, 0), segments: packed(widths, 70, 67) };
  }
  window.pocketdeskSmsSegments = smsSegments;

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, (_, name) => String(values[name] ?? ""));
  }

  function updateCounter() {
    const output = document.getElementById("segments");
    const text = document.getElementById("reply-text");
    const picker = document.getElementById("reply-channel");
    if (!output || !text || !picker) return;
    const kind = picker.selectedOptions[0]?.dataset.kind || "";
    const smsKinds = (output.dataset.smsKinds || "").split(",");
    if (!smsKinds.includes(kind)) {
      output.textContent = "";
      output.hidden = true;
      return;
    }
    const count = smsSegments(text.value.trim());
    output.dataset.segments = String(count.segments);
    output.textContent = format(count.segments === 1 ? output.dataset.one : output.dataset.many, count);
    output.hidden = false;
  }

  // --- WhatsApp's 24-hour window: the notice of the channel the reply goes to -------------
  const MAX_TIMER_MS = 2147483647;

  function closeWhenDue(notice) {
    if (notice.dataset.windowOpen !== "true" || notice.dataset.closing) return;
    const left = Date.parse(notice.dataset.closesAt || "") - Date.now();
    if (Number.isNaN(left) || left > MAX_TIMER_MS) return;
    notice.dataset.closing = "true";
    setTimeout(() => {
      if (!notice.isConnected || notice.dataset.windowOpen !== "true") return;
      notice.dataset.windowOpen = "false";
      notice.className = "window-notice error";
      notice.textContent = notice.dataset.closedText || "";
    }, Math.max(0, left));
  }

  function updateWindows() {
    const picker = document.getElementById("reply-channel");
    if (!picker) return;
    const option = picker.selectedOptions[0];
    // The first option is "where they last wrote": its channel id is in data-channel.
    const channel = option?.value || option?.dataset.channel || "";
    for (const notice of document.querySelectorAll("[data-window-channel]")) {
      notice.hidden = notice.dataset.windowChannel !== channel;
      closeWhenDue(notice);
    }
  }

  // --- labels' colours (CSSOM: allowed by the CSP, unlike style attributes) ----------------
  function paintLabels(scope) {
    for (const el of scope.querySelectorAll("[data-colour]")) {
      if (/^#[0-9a-fA-F]{6}$/.test(el.dataset.colour)) el.style.setProperty("--label", el.dataset.colour);
    }
  }

  // --- forms -------------------------------------------------------------------------------
  document.addEventListener("input", (event) => {
    if (event.target.id === "reply-text") updateCounter();
  });
  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.id === "reply-channel") {
      updateCounter();
      updateWindows();
    }
    if (target.id === "canned" && target.value) {
      const text = document.getElementById("reply-text");
      const insert = target.selectedOptions[0].dataset.text || "";
      text.setRangeText(insert, text.selectionStart, text.selectionEnd, "end");
      target.value = "";
      text.focus();
      updateCounter();
    }
  });

  document.body.addEventListener("htmx:beforeSwap", (event) => {
    // A 422 answer carries the form's error: show it (htmx leaves 4xx unswapped otherwise).
    if (event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function dedupeThread(thread) {
    const seen = new Set();
    for (const el of thread.querySelectorAll("[data-message-id]")) {
      if (seen.has(el.dataset.messageId)) el.remove();
      else seen.add(el.dataset.messageId);
    }
  }

  // A customer's WhatsApp message brings its channel's notice along (hx-swap-oob).
  document.body.addEventListener("htmx:oobAfterSwap", updateWindows);

  document.body.addEventListener("htmx:afterSwap", (event) => {
    paintLabels(event.detail.target.parentElement || document);
    const thread = document.getElementById("thread");
    if (thread && (event.detail.target === thread || thread.contains(event.detail.target))) {
      dedupeThread(thread);
      thread.lastElementChild?.scrollIntoView({ block: "end" });
    }
  });

  document.body.addEventListener("htmx:afterRequest", (event) => {
    const form = event.detail.elt;
    if (!event.detail.successful || !(form instanceof HTMLFormElement)) return;
    if (form.id === "reply" || form.id === "note") {
      form.querySelector("textarea").value = "";
      const error = form.querySelector(".error");
      if (error) error.hidden = true;
      updateCounter();
    }
  });

  paintLabels(document);
  updateCounter();
  updateWindows();
  document.getElementById("thread")?.lastElementChild?.scrollIntoView({ block: "end" });

  // --- live updates ------------------------------------------------------------------------
  const root = document.querySelector("[data-live]");
  if (!root || !window.WebSocket || !window.htmx) return;

  function socketUrl(base) {
    if (base) return /\/events$/.test(base) ? base : base.replace(/\/?$/, "/") + "events";
    return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws/events`;
  }

  const timers = new Map();
  function soon(key, run, delay = 150) {
    // Events often come in pairs (a message and its conversation's update): fetch once.
    clearTimeout(timers.get(key));
    timers.set(key, setTimeout(() => { timers.delete(key); run(); }, delay));
  }

  function csrfToken() {
    return document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
  }

  const inbox = {
    paged: new URLSearchParams(location.search).has("cursor"),
    list() {
      if (this.paged) return; // an older page stays as it is; the first page follows live
      soon("list", () => htmx.ajax("GET", root.dataset.listUrl, { target: "#inbox-list", swap: "outerHTML" }), 300);
    },
    row(id) {
      const row = document.getElementById(`row-${id}`);
      if (!row) return this.list();
      soon(`row-${id}`, () =>
        htmx.ajax("GET", root.dataset.rowUrl.replace("CONVERSATION", encodeURIComponent(id)), {
          target: `#row-${CSS.escape(id)}`,
          swap: "outerHTML",
        }),
      );
    },
    handle(event, data) {
      if (event === "message.created") this.list(); // the row moves to the top
      else if (event === "conversation.updated" || event === "conversation.assigned") this.row(data.conversation);
    },
    resync() { this.list(); },
  };

  const thread = {
    id: root.dataset.conversation,
    messageUrl(id) { return root.dataset.messageUrl.replace("MESSAGE", encodeURIComponent(id)); },
    markRead() {
      if (document.visibilityState !== "visible") return;
      soon("read", () =>
        fetch(root.dataset.readUrl, { method: "POST", headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin" }),
      500);
    },
    handle(event, data) {
      if (data.conversation !== this.id) return;
      const id = data.message;
      const selector = id ? `[data-message-id="${CSS.escape(id)}"]` : "";
      if (event === "message.created") {
        if (!document.querySelector(selector)) {
          htmx.ajax("GET", this.messageUrl(id), { target: "#thread", swap: "beforeend" });
        }
        if (data.direction === "inbound") this.markRead();
      } else if (event === "message.status") {
        if (document.querySelector(selector)) {
          soon(`message-${id}`, () => htmx.ajax("GET", this.messageUrl(id), { target: selector, swap: "outerHTML" }));
        }
      } else if (event === "conversation.updated" || event === "conversation.assigned") {
        const changes = data.changes || [];
        if (changes.length === 1 && changes[0] === "unread_count") return;
        soon("controls", () => htmx.ajax("GET", root.dataset.controlsUrl, { target: "#controls", swap: "outerHTML" }));
      }
    },
    resync() {
      // Whatever happened while disconnected: the newest page of the thread, and the controls.
      htmx.ajax("GET", location.pathname, { target: "#thread", select: "#thread", swap: "outerHTML" });
      htmx.ajax("GET", root.dataset.controlsUrl, { target: "#controls", swap: "outerHTML" });
    },
  };

  const page = root.dataset.live === "thread" ? thread : inbox;
  let delay = 1000;
  let connectedBefore = false;

  function connect() {
    const socket = new WebSocket(socketUrl(root.dataset.wsUrl));
    socket.addEventListener("open", () => {
      delay = 1000;
      root.dataset.socket = "open";
      if (connectedBefore) page.resync();
      connectedBefore = true;
    });
    socket.addEventListener("message", (message) => {
      let payload;
      try {
        payload = JSON.parse(message.data);
      } catch {
        return;
      }
      if (payload && payload.event && payload.data) page.handle(payload.event, payload.data);
    });
    socket.addEventListener("close", () => {
      root.dataset.socket = "closed";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }
  connect();
})();
