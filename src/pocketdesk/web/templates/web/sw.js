{% load static %}// pocketdesk service worker: caches the app shell, serves the offline page, sends the chat
// messages written offline when the connection is back (Background Sync), and shows web push
// notifications (sw-push.js).
importScripts("{% static 'conversations/outbox.js' %}", "{% static 'web/sw-push.js' %}");

const CACHE = "pocketdesk-shell-v2";
const SHELL = [
  "{% url 'web:offline' %}", "{% static 'web/app.css' %}", "{% static 'web/app.js' %}", "{% static 'web/icon.svg' %}",
  "{% static 'conversations/chat.css' %}", "{% static 'conversations/chat.js' %}", "{% static 'conversations/outbox.js' %}",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(() => caches.match("{% url 'web:offline' %}")));
    return;
  }
  if (SHELL.includes(new URL(request.url).pathname)) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
  }
});

self.addEventListener("sync", (event) => {
  if (event.tag !== self.pdOutbox.TAG) return;
  // Rejecting makes the browser try again later while messages still wait.
  event.waitUntil(self.pdOutbox.flush().then((left) => {
    if (left) throw new Error(`${left} chat message(s) still waiting`);
  }));
});
