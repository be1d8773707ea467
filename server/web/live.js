// Follows a running job's output on its page: appends what the server
// streams (Server-Sent Events) to the output block, and shows the job's
// final state when it ends. The page works without it, as it was when
// loaded.
(function () {
  const out = document.getElementById("output");
  const state = document.getElementById("state");
  if (!out || !state || state.dataset.ended === "true") return;
  const url = out.dataset.events + "?offset=" + out.dataset.offset;
  const events = new EventSource(url);
  events.addEventListener("output", (e) => {
    const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    // The event's data is the chunk as sent, its last newline included.
    out.textContent += e.data;
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
  });
  events.addEventListener("end", (e) => {
    state.textContent = e.data;
    state.className = "state " + e.data;
    state.dataset.ended = "true";
    events.close();
  });
})();
