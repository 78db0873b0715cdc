// The chat's outbox: messages written in the app wait in IndexedDB until the server has them.
// Loaded by the chat page and by the service worker (Background Sync), so either may send.
// Each message carries the app's own id (client_id): the server stores it once however many
// times it is sent, so two senders racing each other cannot duplicate a message.
(function (scope) {
  "use strict";
  const DB = "pocketdesk-chat";
  const STORE = "outbox";
  const API = "/api/v1/me/conversations";
  // Answers that will not change on a retry: drop the message and say it was not sent.
  const KEEP = new Set([401, 403, 408, 425, 429]);
  const memory = new Map(); // used instead when IndexedDB is unavailable (some private modes)
  let noDatabase = false;
  let running = null;

  function open() {
    return new Promise((resolve, reject) => {
      const request = scope.indexedDB.open(DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "client_id" });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function run(mode, work) {
    let db;
    try {
      db = await open();
    } catch (error) {
      noDatabase = true;
      return null;
    }
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => { db.close(); resolve(request ? request.result : undefined); };
      tx.onerror = tx.onabort = () => { db.close(); reject(tx.error); };
    });
  }

  async function put(entry) {
    try {
      await run("readwrite", (store) => store.put(entry));
    } catch (error) {
      noDatabase = true; // e.g. storage full: keep it for this page's life at least
    }
    if (noDatabase) memory.set(entry.client_id, entry);
  }

  async function remove(clientId) {
    memory.delete(clientId);
    await run("readwrite", (store) => store.delete(clientId));
  }

  async function all() {
    const stored = (await run("readonly", (store) => store.getAll())) || [];
    return [...stored, ...memory.values()].sort((a, b) => a.at - b.at);
  }

  // A thread started offline has no id yet: once its first message created it, the rest of
  // its queue goes there (and not into new threads of their own).
  async function adopt(draft, conversation) {
    for (const entry of await all()) {
      if (entry.draft === draft && !entry.conversation) await put({ ...entry, conversation });
    }
  }

  // The page's fresh CSRF token for every waiting message (it changes after a new sign-in).
  async function retoken(csrf) {
    for (const entry of await all()) if (entry.csrf !== csrf) await put({ ...entry, csrf });
  }

  async function sendOne(entry) {
    const url = entry.conversation ? `${API}/${encodeURIComponent(entry.conversation)}/messages` : API;
    return scope.fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": entry.csrf },
      body: JSON.stringify({ text: entry.text, client_id: entry.client_id, kind: entry.kind || "text" }),
    });
  }

  // Send what waits, oldest first; stop at the first network failure or server trouble so
  // the order holds. Resolves to the number of messages still waiting.
  function flush(hooks = {}) {
    if (running) return running.then(() => flush(hooks));
    running = (async () => {
      const drafts = new Map();
      let left = 0;
      for (const entry of await all()) {
        if (left) { left += 1; continue; }
        const item = entry.conversation || !drafts.has(entry.draft) ? entry : { ...entry, conversation: drafts.get(entry.draft) };
        let response;
        try {
          response = await sendOne(item);
        } catch (error) {
          left += 1; // offline: keep it, and everything after it
          continue;
        }
        if (response.ok) {
          const message = await response.json();
          if (item.draft && !item.conversation) {
            drafts.set(item.draft, message.conversation);
            await adopt(item.draft, message.conversation);
          }
          await remove(item.client_id);
          if (hooks.sent) hooks.sent(item, message);
        } else if (response.status < 500 && !KEEP.has(response.status)) {
          await remove(item.client_id);
          if (hooks.failed) hooks.failed(item, response.status);
        } else {
          left += 1;
        }
      }
      return left;
    })().finally(() => { running = null; });
    return running;
  }

  scope.pdOutbox = { put, remove, all, flush, retoken, TAG: "pocketdesk-outbox" };
})(self);
