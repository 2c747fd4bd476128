/* Live monitoring for supervisors: live conversations (owner, wait, sentiment, SLA), read-only transcript, whisper,
   barge-in and re-route. Quality inspection is in quality.js (same page, second tab). */
"use strict";

(() => {
  const { el, clear, api, fmtSeconds, fmtDateTime, fmtTime, toast, ROLE_NAMES } = kefu;
  const $ = (id) => document.getElementById(id);
  const SKILLS = { after_sales: "售后", logistics: "物流", billing: "支付与发票", product: "商品咨询", vip: "VIP 专席", general: "综合" };
  const CHANNELS = { web: "网页", app: "App", miniprogram: "小程序" };
  const OWNER = { bot: "机器人", queue: "排队中", agent: "客服接待" };
  const MOOD = { angry: "愤怒", negative: "不满", neutral: "平静", positive: "满意" };
  const SENDER = { customer: "顾客", agent: "客服", bot: "机器人", system: "系统", supervisor: "主管悄悄话" };
  let token = null;
  let watching = null;
  let timer = null;

  const auth = kefu.loginFlow({
    scope: "supervisor", roles: ["supervisor"], form: $("login-form"), errorBox: $("login-error"),
    onLogin: ({ token: t, claims }) => {
      token = t;
      window.kefuSupervisor = { token: t, claims };
      $("login").hidden = true;
      $("app").hidden = false;
      $("me-name").textContent = `${claims.name}（${ROLE_NAMES[claims.role] || claims.role}）`;
      clear($("reroute-skill")).append(...Object.entries(SKILLS).map(([k, v]) => el("option", { value: k, text: `转到${v}` })));
      refresh();
      timer = setInterval(refresh, 5000);
      document.dispatchEvent(new CustomEvent("kefu-supervisor-login"));
    },
    onLogout: () => { clearInterval(timer); location.reload(); },
  });
  $("logout").addEventListener("click", () => auth.logout());
  for (const b of document.querySelectorAll(".tabs button")) {
    b.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".tabs button")) other.classList.toggle("active", other === b);
      $("tab-live").hidden = b.dataset.tab !== "live";
      $("tab-quality").hidden = b.dataset.tab !== "quality";
      document.dispatchEvent(new CustomEvent("kefu-tab", { detail: b.dataset.tab }));
    });
  }
  $("whisper-form").addEventListener("submit", (e) => { e.preventDefault(); sendWhisper(); });
  $("barge-in").addEventListener("click", () => act("barge-in", {}, "已接管，请在客服工作台继续与顾客沟通"));
  $("reroute").addEventListener("click", () => act("reroute", { to_skill: $("reroute-skill").value }, "已重新分配"));

  async function call(path, options = {}) {
    try {
      return await api(path, { ...options, token });
    } catch (err) {
      if (err.status === 401) auth.logout();
      throw err;
    }
  }

  async function refresh() {
    await Promise.all([loadLive(), watching ? loadTranscript() : null]);
    $("updated").textContent = `更新于 ${fmtDateTime(new Date().toISOString())}`;
  }

  async function loadLive() {
    const table = clear($("live-table"));
    let rows;
    try {
      rows = await call("/api/v1/supervision/live");
    } catch (err) {
      table.append(el("tbody", {}, el("tr", {}, el("td", { class: "error", text: `读取实时会话失败：${err.message}` }))));
      return;
    }
    $("live-count").textContent = String(rows.length);
    table.append(el("thead", {}, el("tr", {}, ["顾客", "渠道", "状态", "客服", "技能组", "等待", "情绪", "SLA", ""].map((h) => el("th", { text: h })))));
    table.append(el("tbody", {}, rows.map((r) => el("tr", { dataset: { conversationId: r.conversation_id, owner: r.owner } },
      el("td", { text: r.customer_id }), el("td", { text: CHANNELS[r.channel] || r.channel }),
      el("td", { text: OWNER[r.owner] || r.owner }), el("td", { text: r.agent_name || "—" }),
      el("td", { text: SKILLS[r.skill] || r.skill || "—" }),
      el("td", { text: r.owner === "bot" ? "—" : fmtSeconds(r.wait_s) }),
      el("td", { class: r.sentiment === "angry" ? "mood-angry" : "", text: MOOD[r.sentiment] || "—" }),
      el("td", {}, el("span", { class: `badge ${r.sla === "breached" ? "red" : "green"}`, text: r.sla === "breached" ? "超时" : "正常" })),
      el("td", {}, el("button", { type: "button", class: "small", text: "查看", onclick: () => watch(r) }))))));
    if (!rows.length) table.append(el("tbody", {}, el("tr", {}, el("td", { colspan: 9, class: "muted", text: "当前没有进行中的会话" }))));
  }

  function watch(r) {
    watching = r;
    $("watch").hidden = false;
    $("watch-title").textContent = `会话详情（只读）：顾客 ${r.customer_id}`;
    $("watch-meta").textContent = `${OWNER[r.owner] || r.owner}${r.agent_name ? ` · 客服 ${r.agent_name}` : ""} · 开始于 ${fmtDateTime(r.started_at)}`;
    const held = r.owner === "agent";
    $("whisper-text").disabled = !held;
    $("barge-in").disabled = !held;
    $("watch-error").textContent = held ? "" : "该会话当前没有客服接待，悄悄话和接管仅对客服接待中的会话可用。";
    loadTranscript();
  }

  async function loadTranscript() {
    if (!watching) return;
    let lines;
    try {
      lines = await call(`/api/v1/supervision/conversations/${encodeURIComponent(watching.conversation_id)}/transcript`);
    } catch (err) {
      $("watch-error").textContent = `读取会话失败：${err.message}`;
      return;
    }
    const box = clear($("watch-transcript"));
    for (const m of lines) {
      const sender = m.kind === "whisper" ? "supervisor" : m.sender;
      box.append(el("div", { class: `line ${m.kind === "whisper" ? "whisper" : sender}` },
        el("div", { class: "meta", text: `${SENDER[sender] || sender} ${fmtTime(m.created_at)}` }),
        el("div", { class: "text", text: m.text })));
    }
    box.scrollTop = box.scrollHeight;
  }

  async function sendWhisper() {
    const text = $("whisper-text").value.trim();
    if (!text || !watching) return;
    try {
      await call(`/api/v1/supervision/conversations/${encodeURIComponent(watching.conversation_id)}/whisper`, { method: "POST", body: { text } });
      $("whisper-text").value = "";
      toast("悄悄话已发送给客服", "ok");
      loadTranscript();
    } catch (err) {
      $("watch-error").textContent = `发送失败：${err.message}`;
    }
  }

  async function act(action, body, done) {
    if (!watching) return;
    try {
      await call(`/api/v1/supervision/conversations/${encodeURIComponent(watching.conversation_id)}/${action}`, { method: "POST", body });
      toast(done, "ok");
      $("watch-error").textContent = "";
      refresh();
    } catch (err) {
      $("watch-error").textContent = `操作失败：${err.message}`;
    }
  }
})();
