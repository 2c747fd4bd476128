/* Agent console: login, status, offers with a countdown, several conversations at once, context panel, reply,
   transfer, close, tickets. All shopper text is rendered with textContent. */
"use strict";

(() => {
  const { el, clear, api, fmtTime, fmtDateTime, fmtSeconds, toast } = kefu;
  const $ = (id) => document.getElementById(id);
  const SKILLS = { after_sales: "售后", logistics: "物流", billing: "支付与发票", product: "商品咨询", vip: "VIP 专席", general: "综合" };
  const REASONS = { request_human: "顾客要求人工", angry: "顾客情绪激动", complaint: "投诉", refund_dispute: "退款纠纷",
    fallback: "机器人无法回答", bot_unavailable: "机器人暂不可用", transfer: "转接" };
  // the bot's name is defined once, in bot/domain.yml; the server writes it into the page (router/web/persona.py)
  const BOT_NAME = document.body.dataset.botName || "";
  const SENDER = { customer: "顾客", agent: "客服", bot: BOT_NAME ? `机器人${BOT_NAME}` : "机器人", system: "系统", whisper: "主管悄悄话（顾客看不到）" };

  let token = null;
  let me = null;
  let ws = null;
  let wsBackoff = 500;
  let wsEverOpen = false;
  let loggedIn = false;
  const offers = new Map();         // offer id -> {offer, node, timer}
  const convs = new Map();          // conversation id -> {info, lines: Map(id -> line), closed, unread, context, revealed, revealedOrder}
  let current = null;

  const auth = kefu.loginFlow({
    scope: "agent", roles: ["agent", "supervisor"], form: $("login-form"), errorBox: $("login-error"),
    onLogin: ({ token: t }) => start(t),
    onLogout: () => location.reload(),
  });
  $("logout").addEventListener("click", async () => {
    try { await call("/api/v1/agents/me/status", { method: "PUT", body: { status: "offline" } }); } catch (_e) { /* leaving anyway */ }
    auth.logout();
  });

  async function call(path, options = {}) {
    try {
      return await api(path, { ...options, token });
    } catch (err) {
      if (err.status === 401) auth.logout();
      throw err;
    }
  }

  // ------------------------------------------------------------------ start-up
  async function start(t) {
    token = t;
    loggedIn = true;
    $("login").hidden = true;
    $("app").hidden = false;
    try {
      me = await call("/api/v1/agents/me");
    } catch (err) {
      toast(`无法读取账号信息：${err.message}`, "error");
      return;
    }
    renderMe();
    const [myOffers, myConvs] = await Promise.all([
      call("/api/v1/agents/me/offers").catch(() => []),
      call("/api/v1/agents/me/conversations").catch(() => []),
    ]);
    for (const o of myOffers) addOffer({ ...o, offer_id: o.id });
    for (const c of myConvs) addConversation(c, false);
    if (myConvs.length) openConversation(myConvs[0].conversation_id);
    connect();
    document.dispatchEvent(new CustomEvent("kefu:ready", { detail: me }));
  }

  function renderMe() {
    $("me-name").textContent = `${me.display_name}（${kefu.ROLE_NAMES[me.role] || me.role}）`;
    if (me.status) $("status-select").value = me.status;
    renderWorkload();
  }

  $("status-select").addEventListener("change", async (event) => {
    try {
      me = await call("/api/v1/agents/me/status", { method: "PUT", body: { status: event.target.value } });
      renderMe();
      toast(event.target.value === "online" ? "已上线，开始接待" : "已暂停接待新会话", "ok");
    } catch (err) {
      toast(`状态切换失败：${err.message}`, "error");
    }
  });

  async function refreshMe() {
    try { me = await call("/api/v1/agents/me"); renderMe(); } catch (_e) { /* shown on next action */ }
  }

  // ------------------------------------------------------------------ socket
  function connect() {
    ws = new WebSocket(kefu.wsUrl("/api/v1/agents/ws"));
    const state = $("ws-state");
    ws.addEventListener("open", () => {
      ws.send(JSON.stringify({ type: "auth", token }));  // the first frame, never the URL (logs keep URLs)
      wsBackoff = 500;
      state.textContent = "已连接";
      state.className = "badge green";
      if (wsEverOpen) resync();  // whatever was pushed while the socket was down never arrived: re-read it
      wsEverOpen = true;
    });
    ws.addEventListener("message", (event) => {
      let data;
      try { data = JSON.parse(event.data); } catch (_e) { return; }
      onEvent(data);
    });
    ws.addEventListener("close", (event) => {
      state.textContent = "重新连接中";
      state.className = "badge red";
      if (event.code === 4401) { auth.logout(); return; }
      if (!loggedIn || event.code === 4403) return;
      setTimeout(connect, wsBackoff);
      wsBackoff = Math.min(wsBackoff * 2, 10000);
    });
  }
  setInterval(() => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "ping" })); }, 25000);

  // Re-read what the console shows from the API (after a reconnect, or when the server says pushes were lost):
  // offers, the conversations this agent holds (new ones appear, ended ones are marked) and their transcripts.
  async function resync() {
    let myOffers;
    let myConvs;
    try {
      [myOffers, myConvs] = await Promise.all([call("/api/v1/agents/me/offers"), call("/api/v1/agents/me/conversations")]);
    } catch (_e) {
      return;  // the next reconnect tries again
    }
    const live = new Set(myOffers.map((o) => o.id));
    for (const id of [...offers.keys()]) if (!live.has(id)) removeOffer(id);
    for (const o of myOffers) addOffer({ ...o, offer_id: o.id });
    const held = new Set(myConvs.map((c) => c.conversation_id));
    for (const c of myConvs) addConversation(c, false);
    for (const [id, c] of convs) {
      if (c.closed) continue;
      if (!held.has(id)) { markClosed(id, "会话已结束"); continue; }
      const before = c.lines.size;
      await loadContext(id);
      if (id !== current && c.lines.size > before) c.unread += c.lines.size - before;
    }
    renderConversationList();
    refreshMe();
  }

  function onEvent(data) {
    switch (data.type) {
      case "resync":
        resync();
        break;
      case "hello":
        for (const o of data.offers || []) addOffer({ ...o, offer_id: o.id });
        break;
      case "offer":
        addOffer(data);
        toast("有新的会话请求，请及时接入");
        break;
      case "offer_rescinded":
      case "offer_timed_out":
      case "offer_rejected":
        removeOffer(data.offer_id, data.type === "offer_timed_out" ? "会话请求已超时，已转给其他客服"
          : data.reason === "agent_disconnected" ? "工作台连接中断，会话请求已转给其他客服" : null);
        refreshMe();
        break;
      case "presence":
        refreshMe();
        break;
      case "assigned":
        removeOffer(data.offer_id);
        if (data.agent_id === undefined || data.agent_id === null || data.agent_id === me.id) {
          addConversation({ conversation_id: data.conversation_id, customer_id: data.customer_id, skill: data.skill,
            note: data.note, reason: data.reason, channel: data.channel }, true);
        }
        refreshMe();
        break;
      case "message":
        onCustomerMessage(data);
        break;
      case "closed":
      case "abandoned":
        markClosed(data.conversation_id, data.type === "abandoned" ? "顾客已离开" : "会话已结束");
        refreshMe();
        break;
      case "transferred":
        if (convs.has(data.conversation_id)) markClosed(data.conversation_id, "会话已转出");
        refreshMe();
        break;
      case "delivery":
        onDelivery(data);
        break;
      case "whisper": { // a supervisor's note: shown to this agent only, never sent to the shopper
        const c = convs.get(data.conversation_id);
        if (c) addLine(c, { id: `whisper-${data.id}`, sender: "whisper", text: data.text, created_at: data.created_at });
        toast(`主管${data.from ? ` ${data.from} ` : ""}悄悄话：${data.text}`);
        break;
      }
      case "error":
        toast(`操作失败：${data.reason || "未知错误"}`, "error");
        break;
      default:  // e.g. ticket_assigned, read by agent_tickets.js
        document.dispatchEvent(new CustomEvent("kefu:event", { detail: data }));
        break;
    }
  }

  // ------------------------------------------------------------------ offers
  function addOffer(o) {
    const id = o.offer_id;
    if (!id || offers.has(id)) return;
    const total = Math.max(1, (o.deadline - (o.created_at || (Date.now() / 1000))) );
    const count = el("span", { class: "count" });
    const bar = el("div", { class: "bar" });
    const accept = el("button", { type: "button", class: "success", text: "接入" });
    const reject = el("button", { type: "button", text: "拒绝" });
    const details = offerDetails(o);
    const node = el("div", { class: "offer", tabindex: "0", dataset: { offerId: id, conversationId: o.conversation_id },
      "aria-label": "新的会话请求：Enter 或 A 接入，Esc 或 R 拒绝" },
      el("div", {}, el("strong", { text: SKILLS[o.skill] || o.skill || "综合" }), " · ",
        el("span", { text: REASONS[o.reason] || o.reason || "转人工" }),
        o.priority ? el("span", { class: `badge ${o.priority >= 5 ? "red" : "orange"}`, text: `优先级 ${o.priority}` }) : null),
      details.node,
      el("div", { class: "muted", text: `顾客 ${o.customer_id || ""}` }),
      o.note ? el("div", { class: "muted", text: `备注：${o.note}` }) : null,
      el("div", {}, "剩余 ", count, " 秒"), bar,
      el("div", { class: "actions" }, accept, reject),
      el("div", { class: "muted keys", text: "键盘：Enter/A 接入 · Esc/R 拒绝" }));
    const tick = () => {
      const left = Math.max(0, o.deadline - Date.now() / 1000);
      count.textContent = String(Math.ceil(left));
      bar.style.width = `${Math.max(0, Math.min(100, (left / total) * 100))}%`;
      details.tick();
      if (left <= 0) { accept.disabled = true; reject.disabled = true; }
    };
    tick();
    const timer = setInterval(tick, 500);
    const doAccept = async () => {
      if (accept.disabled) return;
      accept.disabled = true; reject.disabled = true;
      try {
        const conv = await call(`/api/v1/agents/offers/${encodeURIComponent(id)}/accept`, { method: "POST" });
        removeOffer(id);
        addConversation(conv, true);
        refreshMe();
      } catch (err) {
        // a stale offer (rescinded, timed out, taken): the server's own words, e.g. 该会话邀请已失效（…）
        removeOffer(id, err.status === 409 ? err.message || "该会话请求已失效" : `接入失败：${err.message}`, "error");
        refreshMe();
      }
    };
    const doReject = async () => {
      if (reject.disabled) return;
      accept.disabled = true; reject.disabled = true;
      try { await call(`/api/v1/agents/offers/${encodeURIComponent(id)}/reject`, { method: "POST" }); } catch (_e) { /* gone */ }
      removeOffer(id);
      refreshMe();
    };
    accept.addEventListener("click", doAccept);
    reject.addEventListener("click", doReject);
    offers.set(id, { offer: o, node, timer, accept: doAccept, reject: doReject });
    const box = $("offers");
    if (offers.size === 1) clear(box);
    box.append(node);
    $("offer-count").textContent = String(offers.size);
    $("offer-count").className = "badge red";
    renderWorkload();
  }

  function removeOffer(id, message, kind) {
    const entry = offers.get(id);
    if (!entry) return;
    clearInterval(entry.timer);
    entry.node.remove();
    offers.delete(id);
    $("offer-count").textContent = String(offers.size);
    $("offer-count").className = offers.size ? "badge red" : "badge";
    if (!offers.size) $("offers").append(el("div", { class: "muted", text: "暂无新的会话请求" }));
    if (message) toast(message, kind);
    renderWorkload();
  }

  // ------------------------------------------------------------------ presence, workload and the offer card
  // 接待量 counts accepted conversations only; pending offers are shown apart (待接入). The agent is routable only
  // while this console's connection is open: "online" without it shows as not receiving (router/presence.py).
  const CHANNELS = { web: "网页", app: "App", miniprogram: "小程序", wechat: "小程序", chat: "在线聊天" };
  const MOODS = { angry: "愤怒", negative: "不满", positive: "满意", neutral: "平静" };

  function renderWorkload() {
    if (!me) return;
    const cap = (me.capacity && me.capacity.chat) || 0;
    const load = (me.load && me.load.chat) || 0;
    const pending = Math.max(offers.size, (me.offers && me.offers.chat) || 0);
    $("load").textContent = cap ? `接待量 ${load}/${cap}${pending ? ` · 待接入 ${pending}` : ""}` : "";
    const box = $("presence");
    if (!box) return;
    if (me.status === "online" && me.available === false) {
      box.textContent = "未连接，暂不分配新会话";
      box.className = "badge red";
      box.hidden = false;
    } else if (me.available) {
      box.textContent = "接待中";
      box.className = "badge green";
      box.hidden = false;
    } else {
      box.hidden = true;
    }
  }

  function offerDetails(o) {
    const ctx = o.context || {};
    const channel = o.channel && o.channel !== "chat" ? o.channel : ctx.channel || o.channel;
    const vip = o.vip ?? ctx.vip;
    const mood = o.mood ?? ctx.mood;
    const last = o.last_message ?? ctx.last_message;
    const since = o.enqueued_at ?? (o.waited_s !== undefined && o.created_at ? o.created_at - o.waited_s : null);
    const waited = el("span", { class: "waited" });
    const node = el("div", { class: "offer-details" },
      el("div", {},
        channel ? el("span", { class: "tag channel", text: CHANNELS[channel] || channel }) : null,
        vip ? el("span", { class: "badge orange vip", text: "VIP" }) : null,
        mood ? el("span", { class: `mood mood-${mood}`, text: MOODS[mood] || mood }) : null,
        el("span", { class: "muted" }, "已等待 ", waited)),
      last ? el("div", { class: "last-message", text: `“${last}”` }) : el("div", { class: "muted last-message", text: "顾客未留下具体问题" }));
    const tick = () => {
      waited.textContent = since ? fmtSeconds(Math.max(0, Date.now() / 1000 - since)) : "—";
    };
    tick();
    return { node, tick };
  }

  // Keyboard: Enter or A accepts, Esc or R rejects the focused offer (else the first), outside text fields.
  document.addEventListener("keydown", (event) => {
    if (!offers.size || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" || target.tagName === "SELECT")) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const accept = key === "Enter" || key === "a";
    const reject = key === "Escape" || key === "r";
    if (!accept && !reject) return;
    if (target && target.tagName === "BUTTON" && key === "Enter") return;  // a focused button does its own thing
    const focused = target && target.closest && target.closest(".offer");
    const entry = (focused && offers.get(focused.dataset.offerId)) || offers.values().next().value;
    if (!entry) return;
    event.preventDefault();
    if (accept) entry.accept(); else entry.reject();
  });

  // ------------------------------------------------------------------ conversations
  function addConversation(info, open) {
    const id = info.conversation_id;
    if (!convs.has(id)) convs.set(id, { info, lines: new Map(), closed: false, unread: 0, context: null, loaded: false });
    else Object.assign(convs.get(id).info, info);
    renderConversationList();
    if (open) openConversation(id);
  }

  function renderConversationList() {
    const list = clear($("conversations"));
    let active = 0;
    for (const [id, c] of convs) {
      if (!c.closed) active += 1;
      list.append(el("li", {
        class: [id === current ? "active" : "", c.closed ? "closed" : ""].join(" ").trim(), dataset: { conversationId: id },
        onclick: () => openConversation(id),
      }, el("span", {}, el("span", { text: c.info.customer_id || id.slice(0, 8) }), " ",
        el("span", { class: "muted", text: SKILLS[c.info.skill] || "" })),
      c.closed ? el("span", { class: "badge", text: "已结束" })
        : c.unread ? el("span", { class: "badge red", text: String(c.unread) }) : null));
    }
    $("conv-count").textContent = String(active);
  }

  async function openConversation(id) {
    const c = convs.get(id);
    if (!c) return;
    current = id;
    c.unread = 0;
    renderConversationList();
    $("no-conv").hidden = true;
    for (const part of ["conv-head", "transcript", "composer", "tools"]) $(part).hidden = false;
    $("conv-title").textContent = `顾客 ${c.info.customer_id || ""}`;
    $("conv-skill").textContent = SKILLS[c.info.skill] || c.info.skill || "";
    $("conv-note").textContent = c.info.note ? `转接备注：${c.info.note}` : "";
    setClosedUi(c.closed);
    renderTranscript(c);
    await loadContext(id);
    $("reply-text").focus();
  }

  function setClosedUi(closed) {
    $("reply-text").disabled = closed;
    $("reply-send").disabled = closed;
    $("transfer").disabled = closed;
    $("close").disabled = closed;
  }

  function lineNode(m, c) {
    const sender = m.sender === "customer" || m.direction === "in" ? "customer" : m.sender;
    const old = m.conversation_id && m.conversation_id !== c.info.conversation_id;
    // the server's mood is the label only when it is confident ("neutral", 平静, otherwise)
    const mood = m.mood || m.sentiment_label;
    const meta = el("div", { class: "meta" }, `${SENDER[sender] || sender} ${fmtTime(m.created_at)}`,
      mood && sender === "customer"
        ? el("span", { class: `mood mood-${mood}`, text: charts.MOOD_LABEL[mood] || mood })
        : null);
    const shown = (c.revealed && c.revealed.get(m.id)) || m.text;  // masked unless the agent chose "show"
    // the options a clarification offered the shopper (a clicked one comes back as the shopper's next line)
    const options = (m.buttons || []).map((b) => (typeof b === "string" ? b : b.title)).filter(Boolean);
    return el("div", { class: `line ${sender}${old ? " old" : ""}`, dataset: { id: m.id ?? "" } }, meta,
      el("div", { class: "text", text: shown }),
      options.length ? el("ul", { class: "options" }, options.map((t) => el("li", { text: t }))) : null);
  }

  function addLine(c, m) {
    const key = m.id ?? `local-${c.lines.size}`;
    if (c.lines.has(key)) return false;
    c.lines.set(key, m);
    if (current === c.info.conversation_id) {
      const box = $("transcript");
      box.append(lineNode(m, c));
      box.scrollTop = box.scrollHeight;
      if (m.id !== undefined && m.id !== null) showDelivery(c.info.conversation_id, m.id);
    }
    return true;
  }

  function renderTranscript(c) {
    const box = clear($("transcript"));
    for (const m of c.lines.values()) box.append(lineNode(m, c));
    box.scrollTop = box.scrollHeight;
  }

  let contextTimer = null;
  async function loadContext(id) {
    const c = convs.get(id);
    if (!c) return;
    let ctx;
    try {
      ctx = await call(`/api/v1/agents/conversations/${encodeURIComponent(id)}/context`);
    } catch (err) {
      toast(`读取会话信息失败：${err.message}`, "error");
      return;
    }
    c.context = ctx;
    if (!c.info.customer_id && ctx.conversation) c.info.customer_id = ctx.conversation.customer_id;
    const fresh = new Map();
    for (const m of ctx.transcript || []) fresh.set(m.id, m);
    for (const [key, m] of c.lines) if (!fresh.has(key)) fresh.set(key, m);
    c.lines = new Map([...fresh.entries()].sort((a, b) => (Number(a[0]) || 0) - (Number(b[0]) || 0)));
    if (current === id) {
      renderTranscript(c);
      loadDeliveries(id);
      renderContext(ctx, c);
      $("conv-title").textContent = `顾客 ${c.info.customer_id || ""}`;
    }
  }

  // ------------------------------------------------------------------ delivery to app / mini-program shoppers
  // Whether each message reached a shopper who is not on the web chat (callback / WeChat; router/outbound).
  const deliveries = new Map(); // "conversation:message" -> {status, reason}
  const DELIVERY_TEXT = { delivered: "已送达", retrying: "发送中，正在重试", pending: "发送中", failed: "未送达" };

  function showDelivery(conversationId, messageId) {
    const state = deliveries.get(`${conversationId}:${messageId}`);
    if (!state || current !== conversationId) return;
    const line = $("transcript").querySelector(`.line[data-id="${CSS.escape(String(messageId))}"]`);
    if (!line) return;
    let badge = line.querySelector(".delivery");
    if (!badge) {
      badge = el("span", { class: "delivery" });
      line.querySelector(".meta").append(badge);
    }
    badge.className = `delivery delivery-${state.status}`;
    badge.textContent = DELIVERY_TEXT[state.status] || state.status;
    badge.title = state.reason ? `原因：${state.reason}` : "";
    if (state.status === "failed" && state.reason) badge.textContent += `（${state.reason}）`;
  }

  function onDelivery(data) {
    deliveries.set(`${data.conversation_id}:${data.message_id}`, { status: data.status, reason: data.reason });
    showDelivery(data.conversation_id, data.message_id);
  }

  async function loadDeliveries(id) {
    let rows;
    try {
      rows = await call(`/api/v1/agents/conversations/${encodeURIComponent(id)}/deliveries`);
    } catch (_err) {
      return; // statuses are an extra: the transcript stays usable without them
    }
    for (const r of rows) {
      deliveries.set(`${id}:${r.message_id}`, { status: r.status, reason: r.reason });
      showDelivery(id, r.message_id);
    }
  }

  function scheduleContext(id) {
    clearTimeout(contextTimer);
    contextTimer = setTimeout(() => loadContext(id), 600);
  }

  // The panel's order with its personal data in full once the agent chose "show" for it: the same order, and the
  // same data as then (the server's personal_ref: an address changed since is masked until shown again).
  function shownOrder(order, revealed) {
    if (!order || !revealed || revealed.order_id !== order.order_id || revealed.personal_ref !== order.personal_ref) return order;
    return { ...order, address: revealed.address, detail: revealed.detail };
  }

  function renderContext(ctx, c) {
    const trend = ctx.sentiment_trend || [];
    const sBox = clear($("ctx-sentiment"));
    if (trend.length) {
      sBox.className = "";
      const last = trend[trend.length - 1];
      sBox.append(charts.sentiment(trend),
        el("div", {}, "最近：", el("span", { class: `mood-${last.label}`, text: charts.MOOD_LABEL[last.label] || last.label })));
    } else {
      sBox.className = "muted";
      sBox.textContent = "暂无数据";
    }

    const oBox = clear($("ctx-order"));
    const o = shownOrder(ctx.order, c.revealedOrder);
    if (o) {
      oBox.className = "";
      const items = (o.items || []).map((i) => `${i.product} × ${i.quantity}`).join("；");
      const rows = [["订单号", o.order_id], ["状态", o.status], ["最新进度", o.detail], ["商品", items],
        ["金额", o.total !== undefined ? `¥ ${Number(o.total).toFixed(2)}` : ""], ["收货地址", o.address],
        ["快递", [o.carrier, o.tracking_no].filter(Boolean).join(" ")], ["下单时间", fmtDateTime(o.created_at)]];
      oBox.append(el("dl", { class: "kv" }, rows.filter((r) => r[1]).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])));
    } else {
      oBox.className = "muted";
      oBox.textContent = "对话中未提到订单";
    }

    const fBox = clear($("ctx-faq"));
    const sugg = ctx.faq_suggestions || [];
    fBox.className = sugg.length ? "" : "muted";
    if (!sugg.length) fBox.textContent = "暂无推荐";
    for (const s of sugg) {
      fBox.append(el("div", { class: "suggestion", dataset: { faqId: s.id } },
        el("div", { class: "q", text: s.question }),
        s.question_asked ? el("div", { class: "muted asked", text: `顾客问：${s.question_asked}` }) : null,
        el("div", { class: "a", text: s.answer }),
        el("div", {}, el("span", { class: "muted score", text: `匹配度 ${(s.score * 100).toFixed(0)}%` }), " ",
          el("button", { type: "button", class: "small insert-faq", text: "插入回复",
            onclick: () => insertText(s.answer) }))));
    }

    const nBox = clear($("ctx-nlu"));
    const nlu = ctx.nlu || {};
    const intents = nlu.intents || [];
    const entities = Object.entries(nlu.entities || {});
    const slots = Object.entries(nlu.slots || {});
    nBox.className = intents.length || entities.length || slots.length ? "" : "muted";
    if (!intents.length && !entities.length && !slots.length) nBox.textContent = "暂无";
    if (intents.length) {
      nBox.append(el("div", {}, "意图："), el("ul", {}, intents.slice(-5).map((i) => el("li", {},
        el("span", { class: "tag", text: i.intent }),
        el("span", { class: "muted", text: `${i.confidence !== null && i.confidence !== undefined ? (i.confidence * 100).toFixed(0) + "% · " : ""}${i.text || ""}` })))));
    }
    if (entities.length || slots.length) {
      nBox.append(el("dl", { class: "kv" }, [...entities, ...slots].flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: typeof v === "string" ? v : JSON.stringify(v) })])));
    }
  }

  function insertText(text) {
    const box = $("reply-text");
    const start = box.selectionStart ?? box.value.length;
    box.value = box.value.slice(0, start) + text + box.value.slice(box.selectionEnd ?? start);
    box.focus();
  }

  function onCustomerMessage(data) {
    let c = convs.get(data.conversation_id);
    if (!c) {
      addConversation({ conversation_id: data.conversation_id }, false);
      c = convs.get(data.conversation_id);
    }
    const m = data.message || {};
    const sentiment = m.sentiment || {};
    addLine(c, { id: m.id, sender: m.sender || "customer", direction: "in", text: m.text, conversation_id: data.conversation_id,
      sentiment_label: sentiment.label, mood: sentiment.mood, created_at: new Date().toISOString() });
    if (current !== data.conversation_id) {
      c.unread += 1;
      renderConversationList();
    } else {
      scheduleContext(data.conversation_id);
    }
  }

  function markClosed(id, message) {
    const c = convs.get(id);
    if (!c || c.closed) return;
    c.closed = true;
    addLine(c, { id: `closed-${id}`, sender: "system", text: message, created_at: new Date().toISOString() });
    renderConversationList();
    if (current === id) setClosedUi(true);
  }

  // ------------------------------------------------------------------ actions
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = $("reply-text");
    const text = box.value.trim();
    if (!text || !current) return;
    const id = current;
    $("reply-send").disabled = true;
    try {
      const reply = await call(`/api/v1/agents/conversations/${encodeURIComponent(id)}/messages`, { method: "POST", body: { text } });
      box.value = "";
      addLine(convs.get(id), { id: reply.id, sender: "agent", text: reply.text, created_at: reply.created_at, conversation_id: id });
    } catch (err) {
      toast(`发送失败：${err.message}`, "error");
    } finally {
      $("reply-send").disabled = convs.get(id)?.closed ?? false;
    }
  });
  $("reply-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });

  $("transfer-kind").addEventListener("change", (event) => {
    const toAgent = event.target.value === "agent";
    $("transfer-agent").hidden = !toAgent;
    $("transfer-skill").hidden = toAgent;
  });

  $("transfer").addEventListener("click", async () => {
    if (!current) return;
    const toAgent = $("transfer-kind").value === "agent";
    const body = { note: $("transfer-note").value.trim() || null };
    if (toAgent) {
      const agentId = Number($("transfer-agent").value);
      if (!agentId) { toast("请填写要转给的客服编号", "error"); return; }
      body.to_agent_id = agentId;
    } else {
      body.to_skill = $("transfer-skill").value;
    }
    try {
      await call(`/api/v1/agents/conversations/${encodeURIComponent(current)}/transfer`, { method: "POST", body });
      markClosed(current, toAgent ? `已转给客服 #${body.to_agent_id}` : `已转给${SKILLS[body.to_skill]}组`);
      $("transfer-note").value = "";
      toast("转接成功", "ok");
      refreshMe();
    } catch (err) {
      toast(`转接失败：${err.message}`, "error");
    }
  });

  $("reveal").addEventListener("click", async () => {
    const id = current;
    const c = convs.get(id);
    if (!c) return;
    try {
      const res = await call(`/api/v1/agents/conversations/${encodeURIComponent(id)}/reveal`, { method: "POST" });
      c.revealed = new Map(res.transcript.map((m) => [m.id, m.text]));
      c.revealedOrder = res.order || null;  // kept for the panel's later refreshes (shownOrder)
      if (current !== id) return;  // the agent moved to another conversation meanwhile
      renderTranscript(c);
      if (c.context) renderContext(c.context, c);
    } catch (err) {
      toast(`无法显示完整信息：${err.message}`, "error");
    }
  });

  $("close").addEventListener("click", async () => {
    if (!current) return;
    const id = current;
    try {
      await call(`/api/v1/agents/conversations/${encodeURIComponent(id)}/close`, {
        method: "POST", body: { reason: $("close-reason").value },
      });
      markClosed(id, "会话已结束，已邀请顾客评价");
      refreshMe();
    } catch (err) {
      toast(`结束会话失败：${err.message}`, "error");
    }
  });

  // ------------------------------------------------------------------ tabs; hooks of agent_tickets.js and agent_canned.js
  for (const tab of document.querySelectorAll(".tabs button")) {
    tab.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".tabs button")) {
        other.classList.toggle("active", other === tab);
        const pane = $(`tab-${other.dataset.tab}`);
        if (pane) pane.hidden = other !== tab;
      }
      document.dispatchEvent(new CustomEvent("kefu:tab", { detail: tab.dataset.tab }));
    });
  }

  // What the ticket and canned-reply modules of this page may use (they load after this file).
  window.kefuConsole = {
    call,
    SKILLS,
    SENDER,
    insertText,
    me: () => me,
    current: () => current,
    conversation: (id) => convs.get(id)?.info || null,
  };
})();
