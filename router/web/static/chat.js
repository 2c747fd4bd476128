/* The shopper's chat (inside the widget iframe, or standalone at /chat/embed). */
"use strict";

(() => {
  const { el, fmtTime, fmtEta, uid } = kefu;
  const $ = (id) => document.getElementById(id);
  const log = $("chat-log");
  const form = $("chat-form");
  const input = $("chat-text");
  const typing = $("chat-typing");
  const ownerLine = $("chat-owner");
  const queueBox = $("chat-queue");
  const queueText = $("chat-queue-text");
  const connBox = $("chat-conn");
  const surveyBox = $("chat-survey");
  const ID_RE = /^[A-Za-z0-9_.:@-]{1,128}$/;
  // the bot's name is defined once, in bot/domain.yml; the server writes it into the page (router/web/persona.py)
  const BOT_NAME = document.body.dataset.botName || "智能客服";
  const OWNER_TEXT = { bot: `智能客服${BOT_NAME}为您服务`, queue: "正在为您转接人工客服，请稍候", agent: "人工客服为您服务中" };

  // ------------------------------------------------------------------ identity (kefuIdentity, kept across reloads)
  const me = kefuIdentity.fromPage(ID_RE);
  const authed = (path, options = {}) => me.call(path, options);
  let conversationId = me.token ? localStorage.getItem("kefu.conversation_id") : null;
  let owner = "bot";
  let surveyConversation = null;

  const rendered = new Set();           // message ids already on screen
  const pending = new Map();            // client_msg_id -> bubble
  const payloadTitles = new Map();      // button payload -> title (so clicked buttons read naturally)
  let waiting = 0;
  let unread = 0;
  let opened = window.parent === window;

  function setConversation(id) {
    if (!id) return;
    conversationId = id;
    localStorage.setItem("kefu.conversation_id", id);
  }

  function scrollDown() { log.scrollTop = log.scrollHeight; }
  // the log shrinks when the queue banner, the typing line or the survey appear below or above it: keep the newest
  // message in view whatever changed the layout
  if (window.ResizeObserver) new ResizeObserver(scrollDown).observe(log);

  function setTyping(on) {
    waiting = Math.max(0, waiting + (on ? 1 : -1));
    typing.hidden = waiting === 0;
    if (!typing.hidden) scrollDown();
  }

  function setOwner(next, queue) {
    if (next && next !== owner) {
      if (next === "agent") typing.querySelector("em").textContent = "客服正在输入…";
      if (next === "bot") typing.querySelector("em").textContent = "对方正在输入…";
    }
    owner = next || owner;
    ownerLine.textContent = OWNER_TEXT[owner] || OWNER_TEXT.bot;
    ownerLine.dataset.owner = owner;
    if (owner === "queue") {
      queueBox.hidden = false;
      if (queue) {
        const ahead = Math.max(0, (queue.position || 1) - 1);
        queueText.textContent = ahead > 0
          ? `排队中：您前面还有 ${ahead} 位，预计等待${fmtEta(queue.eta_s)}`
          : `排队中：您是下一位，预计等待${fmtEta(queue.eta_s)}`;
      } else if (!queueText.textContent) {
        queueText.textContent = "正在为您转接人工客服，请稍候…";
      }
    } else {
      queueBox.hidden = true;
      queueText.textContent = "";
    }
  }

  function notifyUnread() {
    if (opened && document.visibilityState === "visible") return;
    unread += 1;
    if (window.parent !== window) window.parent.postMessage({ kefu: "unread", count: unread }, "*");
  }

  // ------------------------------------------------------------------ rendering
  function quickReplies(buttons, asked) {
    // the bot usually asks "您是不是想问…" itself; only label the buttons when it did not
    const box = el("div", { class: "quick" }, asked ? null : el("div", { class: "quick-label", text: "您是不是想问：" }));
    for (const b of buttons) {
      payloadTitles.set(b.payload, b.title);
      box.append(el("button", {
        type: "button", class: "quick-btn", text: b.title, dataset: { payload: b.payload },
        onclick: (event) => {
          for (const other of box.querySelectorAll("button")) other.disabled = true;
          event.currentTarget.classList.add("chosen");
          send(b.payload, b.title);
        },
      }));
    }
    return box;
  }

  function renderOut(message) {
    if (message.id !== null && message.id !== undefined) {
      if (rendered.has(message.id)) return null;
      rendered.add(message.id);
    }
    const sender = message.sender === "agent" ? "agent" : message.sender === "system" ? "system" : "bot";
    const bubble = el("div", { class: `msg msg-${sender}`, dataset: { id: message.id ?? "", sender } });
    if (sender === "agent") bubble.append(el("div", { class: "msg-who", text: "人工客服" }));
    bubble.append(el("div", { class: "msg-text", text: message.text }));
    if (message.buttons && message.buttons.length) {
      bubble.append(quickReplies(message.buttons, /是不是想问|您想问的是/.test(message.text)));
    }
    if (sender !== "system" && message.created_at) bubble.append(el("div", { class: "msg-time", text: fmtTime(message.created_at) }));
    log.append(bubble);
    scrollDown();
    return bubble;
  }

  function renderMine(text, { id = null, clientId = null, shown = null, at = null } = {}) {
    if (id !== null && rendered.has(id)) return null;
    if (id !== null) rendered.add(id);
    const display = shown || payloadTitles.get(text) || text;
    const bubble = el("div", { class: "msg msg-me", dataset: { id: id ?? "" } },
      el("div", { class: "msg-text", text: display }),
      el("div", { class: "msg-time", text: fmtTime(at || Date.now()) }));
    if (clientId) {
      bubble.classList.add("pending");
      pending.set(clientId, bubble);
    }
    log.append(bubble);
    scrollDown();
    return bubble;
  }

  function confirmMine(clientId, messageId) {
    const bubble = pending.get(clientId);
    if (!bubble) return;
    pending.delete(clientId);
    bubble.classList.remove("pending");
    if (messageId !== null && messageId !== undefined) {
      rendered.add(messageId);
      bubble.dataset.id = messageId;
    }
  }

  // ------------------------------------------------------------------ history and state (after a reload)
  async function refresh() {
    let state;
    try {
      if (!(await me.ready())) return;
      state = await authed(`/api/v1/customers/${encodeURIComponent(me.customerId)}/state`);
    } catch (_e) {
      return;
    }
    if (state.conversation_id) setConversation(state.conversation_id);
    setOwner(state.owner, state.queue);
    if (conversationId) {
      try {
        const history = await authed(`/api/v1/conversations/${encodeURIComponent(conversationId)}/history`);
        for (const m of history) {
          if (m.direction === "in") renderMine(m.text, { id: m.id, at: m.created_at });
          else renderOut(m);
        }
      } catch (err) {
        if (err.status === 404) localStorage.removeItem("kefu.conversation_id");
      }
    }
    if (state.survey_pending && state.conversation_id) showSurvey(state.conversation_id);
    else hideSurvey();  // rated already (by stars or a typed digit, maybe in another tab): no second prompt
  }

  // ------------------------------------------------------------------ the socket (REST when it is down)
  let ws = null;
  let backoff = 500;
  let everConnected = false;

  // the heartbeat: a ping every 25 s keeps a proxy from closing an idle socket; a socket that has not answered
  // 10 s later is dead without having said so (a sleeping laptop, a dropped network) and is replaced
  const PING_EVERY_MS = 25000;
  const PONG_WITHIN_MS = 10000;
  let deadline = null;

  function connect() {
    if (!me.token || (ws && ws.readyState <= WebSocket.OPEN)) return;  // no token yet: the first message brings one
    const sock = new WebSocket(kefu.wsUrl("/api/v1/channels/web/ws"));
    ws = sock;
    sock.addEventListener("open", () => {
      sock.send(JSON.stringify({ type: "auth", token: me.token }));  // the token never goes into the URL
      connBox.hidden = true;
      backoff = 500;
      if (everConnected) refresh();  // pick up whatever arrived while we were away
      everConnected = true;
    });
    sock.addEventListener("message", (event) => {
      if (sock === ws) clearTimeout(deadline);  // a late frame of a replaced socket says nothing of the new one
      let data;
      try { data = JSON.parse(event.data); } catch (_e) { return; }
      onEvent(data);
    });
    sock.addEventListener("close", (event) => {
      if (sock !== ws) return;  // a socket the heartbeat gave up on: its successor is already there
      clearTimeout(deadline);
      if (event.code === 4401) { me.forget(); return; }  // expired or erased: the next message starts afresh
      if (everConnected) connBox.hidden = false;
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    });
  }

  setInterval(() => {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const sock = ws;
    sock.send(JSON.stringify({ type: "ping" }));
    clearTimeout(deadline);
    deadline = setTimeout(() => {
      if (sock !== ws) return;
      ws = null;
      sock.close();
      if (everConnected) connBox.hidden = false;
      connect();
    }, PONG_WITHIN_MS);
  }, PING_EVERY_MS);

  function onEvent(data) {
    if (data.type === "reply") {
      setConversation(data.conversation_id);
      const shown = renderOut(data.reply);
      if (data.owner) setOwner(data.owner);
      if (shown && data.reply.sender !== "system") notifyUnread();
    } else if (data.type === "ack") {
      setConversation(data.conversation_id);
      confirmMine(data.client_msg_id, data.message_id);
      setOwner(data.owner, data.queue);
      setTyping(false);
    } else if (data.type === "ticket_reply") {
      // an agent answered a left message: shown like any reply, the current conversation stays as it is
      if (renderOut(data.reply)) notifyUnread();
    } else if (data.type === "survey") {
      showSurvey(data.conversation_id);
    } else if (data.type === "survey_done") {
      hideSurvey();
    } else if (data.type === "resync") {
      refresh();  // the server may have lost pushes (its Redis was away): re-read the history it stored
    } else if (data.type === "error") {
      setTyping(false);
      for (const [cid, bubble] of pending) {
        bubble.classList.add("failed");
        pending.delete(cid);
      }
      renderOut({ id: null, sender: "system", text: `消息未能发送：${data.detail || "请稍后再试"}` });
    }
  }

  async function send(text, shown) {
    const clean = text.trim();
    if (!clean) return;
    const clientId = uid("c");
    renderMine(clean, { clientId, shown });
    setTyping(true);
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ text: clean, client_msg_id: clientId }));
      return;
    }
    try {  // the socket is reconnecting: the REST endpoint answers the same way
      const res = await me.send({ text: clean, client_msg_id: clientId });
      setConversation(res.conversation_id);
      confirmMine(clientId, res.message_id);
      for (const reply of res.replies) renderOut(reply);
      setOwner(res.owner, res.queue);
      connect();
    } catch (err) {
      const bubble = pending.get(clientId);
      if (bubble) bubble.classList.add("failed");
      pending.delete(clientId);
      renderOut({ id: null, sender: "system", text: `网络不太稳定，消息没有发出去，请稍后重试。（${kefuIdentity.reason(err)}）` });
    } finally {
      setTyping(false);
    }
  }

  // ------------------------------------------------------------------ survey
  let rating = 0;
  const stars = $("survey-stars");
  for (let i = 1; i <= 5; i += 1) {
    stars.append(el("button", {
      type: "button", role: "radio", "aria-label": `${i} 分`, "aria-checked": "false", text: "★", dataset: { rating: i },
      onclick: () => {
        rating = i;
        for (const s of stars.children) {
          const on = Number(s.dataset.rating) <= i;
          s.classList.toggle("on", on);
          s.setAttribute("aria-checked", String(Number(s.dataset.rating) === i));
        }
        $("survey-submit").disabled = false;
      },
    }));
  }

  function showSurvey(id) {
    surveyConversation = id;
    surveyBox.hidden = false;
    scrollDown();
  }

  function hideSurvey() {
    surveyBox.hidden = true;
    surveyConversation = null;
  }

  $("survey-submit").addEventListener("click", async () => {
    if (!rating || !surveyConversation) return;
    const comment = $("survey-comment").value.trim();
    try {
      // the server stores the thank-you in the history and pushes it (with "survey_done") to every open window
      const res = await authed(`/api/v1/conversations/${encodeURIComponent(surveyConversation)}/survey`, {
        method: "POST", body: { rating, comment: comment || null },
      });
      hideSurvey();
      for (const reply of (res && res.replies) || []) renderOut(reply);
    } catch (err) {
      renderOut({ id: null, sender: "system", text: `评价提交失败，请稍后再试。（${kefuIdentity.reason(err)}）` });
    }
  });
  $("survey-skip").addEventListener("click", () => { surveyBox.hidden = true; });

  // ------------------------------------------------------------------ controls
  $("chat-leave").addEventListener("click", async () => {
    if (!conversationId) return;
    try {
      await authed(`/api/v1/conversations/${encodeURIComponent(conversationId)}/leave`, { method: "POST" });
      setOwner("bot");
      renderOut({ id: null, sender: "system", text: "您已退出排队。如还需要帮助，随时可以继续提问。" });
    } catch (err) {
      kefu.toast(`操作失败：${kefuIdentity.reason(err)}`, "error");
    }
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    input.value = "";
    input.style.height = "";
    send(text);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  input.addEventListener("input", () => {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 120)}px`;
  });

  const closeButton = $("chat-close");
  if (window.parent === window) closeButton.hidden = true;
  closeButton.addEventListener("click", () => window.parent.postMessage({ kefu: "close" }, "*"));
  window.addEventListener("message", (event) => {
    if (event.source !== window.parent || !event.data) return;
    if (event.data.kefu === "opened") {
      opened = true;
      unread = 0;
      window.parent.postMessage({ kefu: "read" }, "*");
      scrollDown();
      input.focus();
    } else if (event.data.kefu === "closed") {
      opened = false;  // replies from now on count as unread again
    }
  });
  // the widget may have opened (or closed) the frame before this script ran: ask where we stand
  if (window.parent !== window) window.parent.postMessage({ kefu: "ready" }, "*");

  // queued shoppers see their place move even when nobody writes
  setInterval(async () => {
    if (owner !== "queue" || !me.token) return;
    try {
      const state = await authed(`/api/v1/customers/${encodeURIComponent(me.customerId)}/state`);
      setOwner(state.owner, state.queue);
    } catch (_e) { /* next time */ }
  }, 8000);

  window.kefuChat = { customerId: () => me.customerId, conversationId: () => conversationId, token: () => me.token };
  refresh().finally(connect);
})();
