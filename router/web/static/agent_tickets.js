/* Agent console, tickets: the list with filters (mine, my skill groups, status, SLA at risk), a ticket's detail with
   the conversation it came from (masked), public reply and internal note, status, priority and assignment, a live
   SLA countdown, and a ticket created from the open conversation. Loads after agent.js and uses window.kefuConsole.
   Every text of shoppers and staff is put on the page with textContent. */
"use strict";

(() => {
  const { el, clear, fmtDateTime, fmtTime, toast } = kefu;
  const $ = (id) => document.getElementById(id);
  const STATUS = { new: "新建", assigned: "处理中", waiting_customer: "待顾客回复", resolved: "已解决", closed: "已关闭" };
  const STATUS_BADGE = { new: "orange", assigned: "", waiting_customer: "", resolved: "green", closed: "" };
  const OPEN = ["new", "assigned", "waiting_customer"];
  const RISK_S = 3600;  // as router/tickets/sla.py AT_RISK_S
  let ui = null;         // window.kefuConsole, once logged in
  let detail = null;     // the open ticket, as the API returned it
  let detailReadAt = 0;  // when it was read (the countdown runs from there)
  let rows = [];         // [{ticket, readAt, node}] of the list

  document.addEventListener("kefu:ready", () => {
    ui = window.kefuConsole;
    probe();
  });
  document.addEventListener("kefu:tab", (event) => { if (event.detail === "tickets") loadList(); });
  document.addEventListener("kefu:event", (event) => {
    const data = event.detail || {};
    if (data.type !== "ticket_assigned") return;
    toast(`有新工单分配给您：${data.subject || data.ref || ""}`);
    if (!$("tab-tickets").hidden) loadList();
  });

  async function probe() {
    try {
      await ui.call("/api/v1/tickets?limit=1");
      $("tickets-tab").hidden = false;
    } catch (_e) {
      $("tickets-tab").hidden = true;  // the ticket API is not mounted on this router
    }
  }

  const skillName = (s) => ui.SKILLS[s] || s || "";
  function personName(id) {
    if (id === null || id === undefined) return "未分配";
    return id === ui.me().id ? `我（${ui.me().display_name}）` : `客服 #${id}`;
  }
  function actorName(id) {
    if (id === null || id === undefined) return "系统";
    return id === ui.me().id ? "我" : `客服 #${id}`;
  }
  const supervising = () => ["supervisor", "admin"].includes(ui.me().role);
  const mayChange = (t) => supervising() || t.assignee_id === null || t.assignee_id === ui.me().id;

  /** A countdown, rounded down: "5 小时 07 分", "12 分 05 秒", "40 秒". */
  function fmtLeft(seconds) {
    const v = Math.max(0, Math.floor(seconds));
    const two = (n) => String(n).padStart(2, "0");
    if (v >= 86400) return `${Math.floor(v / 86400)} 天 ${Math.floor((v % 86400) / 3600)} 小时`;
    if (v >= 3600) return `${Math.floor(v / 3600)} 小时 ${two(Math.floor((v % 3600) / 60))} 分`;
    if (v >= 60) return `${Math.floor(v / 60)} 分 ${two(v % 60)} 秒`;
    return `${v} 秒`;
  }

  /** The timer that matters now: first response until answered, then resolution. */
  function slaInfo(t, readAt) {
    if (!OPEN.includes(t.status)) return { text: "已完成", cls: "sla-done" };
    const s = t.sla;
    if (s.paused) return { text: "等待顾客回复，计时暂停", cls: "sla-paused" };
    const elapsed = (Date.now() - readAt) / 1000;
    const first = s.first_response_remaining_s;
    const [label, left] = first !== null && first !== undefined
      ? ["首次响应", first - elapsed] : ["解决", s.resolution_remaining_s - elapsed];
    if (left < 0) return { text: `${label}已超时 ${fmtLeft(-left)}`, cls: "sla-breached" };
    return { text: `${label}剩余 ${fmtLeft(left)}`, cls: left <= RISK_S ? "sla-risk" : "sla-ok" };
  }

  function paintSla(node, t, readAt) {
    const info = slaInfo(t, readAt);
    node.textContent = info.text;
    node.className = `sla ${info.cls}`;
  }

  // ------------------------------------------------------------------ list
  function query() {
    const params = new URLSearchParams({ limit: "100" });
    const scope = $("tickets-scope").value;
    if (scope === "me") params.set("assignee", "me");
    if (scope === "team") params.set("team", "true");
    const status = $("tickets-status").value;
    if (status === "open") for (const s of OPEN) params.append("status", s);
    else if (status) params.append("status", status);
    if ($("tickets-risk").checked) params.set("at_risk", "true");
    return params.toString();
  }

  async function loadList() {
    const box = $("tickets-body");
    let page;
    try {
      page = await ui.call(`/api/v1/tickets?${query()}`);
    } catch (err) {
      clear(box).append(el("li", { class: "error", text: `读取工单失败：${err.message}` }));
      return;
    }
    clear(box);
    rows = [];
    $("tickets-total").textContent = String(page.total);
    if (!page.items.length) box.append(el("li", { class: "muted empty-row", text: "暂无符合条件的工单" }));
    const readAt = Date.now();
    for (const t of page.items) {
      const sla = el("span", { class: "sla" });
      const node = el("li", {
        class: `ticket-item${detail && detail.id === t.id ? " active" : ""}${t.sla.at_risk ? " at-risk" : ""}`,
        dataset: { ticketId: String(t.id), ref: t.ref }, tabindex: "0",
        onclick: () => openTicket(t.id),
        onkeydown: (event) => { if (event.key === "Enter") openTicket(t.id); },
      },
      el("div", { class: "row1" }, el("strong", { text: t.ref }), " ",
        el("span", { class: `badge ${STATUS_BADGE[t.status] || ""}`, text: STATUS[t.status] || t.status }), " ",
        t.priority >= 5 ? el("span", { class: "badge red", text: `优先级 ${t.priority}` })
          : el("span", { class: "muted", text: `优先级 ${t.priority}` }),
        t.vip ? el("span", { class: "badge orange", text: "VIP" }) : null),
      el("div", { class: "subject", text: t.subject }),
      el("div", { class: "muted row3" }, el("span", { text: skillName(t.category) }), " · ",
        el("span", { text: t.assignee_id === ui.me().id ? "我处理" : personName(t.assignee_id) }), " · ", sla));
      paintSla(sla, t, readAt);
      rows.push({ ticket: t, readAt, sla });
      box.append(node);
    }
  }

  for (const id of ["tickets-scope", "tickets-status", "tickets-risk"]) $(id).addEventListener("change", loadList);
  $("tickets-reload").addEventListener("click", loadList);

  setInterval(() => {
    for (const r of rows) paintSla(r.sla, r.ticket, r.readAt);
    if (detail && !$("ticket-view").hidden) paintSla($("t-sla"), detail, detailReadAt);
  }, 1000);

  // ------------------------------------------------------------------ detail
  for (let p = 0; p <= 10; p += 1) $("t-priority-select").append(el("option", { value: String(p), text: String(p) }));

  async function openTicket(id) {
    let t;
    try {
      t = await ui.call(`/api/v1/tickets/${encodeURIComponent(id)}`);
    } catch (err) {
      toast(err.status === 404 ? "该工单不存在或您无权查看" : `读取工单失败：${err.message}`, "error");
      return;
    }
    showDetail(t);
    loadTranscript(t);
  }

  function showDetail(t) {
    detail = t;
    detailReadAt = Date.now();
    $("ticket-empty").hidden = true;
    $("ticket-view").hidden = false;
    $("ticket-view").dataset.ticketId = String(t.id);
    for (const r of rows) r.sla.closest("li").classList.toggle("active", r.ticket.id === t.id);
    $("t-ref").textContent = t.ref;
    $("t-subject").textContent = t.subject;
    $("t-status").textContent = STATUS[t.status] || t.status;
    $("t-status").className = `badge ${STATUS_BADGE[t.status] || ""}`;
    paintSla($("t-sla"), t, detailReadAt);
    $("t-category").textContent = skillName(t.category);
    $("t-priority").textContent = String(t.priority);
    $("t-assignee").textContent = personName(t.assignee_id);
    $("t-customer").textContent = [t.customer_id, t.channel].filter(Boolean).join(" · ") || "—";
    $("t-created").textContent = fmtDateTime(t.created_at);
    $("t-description").textContent = t.description || "";
    $("t-description").hidden = !t.description;
    if (OPEN.includes(t.status) || t.status === "resolved") $("t-status-select").value = t.status === "new" ? "assigned" : t.status;
    $("t-priority-select").value = String(t.priority);
    $("t-group").value = t.category in ui.SKILLS ? t.category : "general";
    const changeable = mayChange(t);
    const closed = t.status === "closed";
    for (const id of ["t-status-select", "t-status-save", "t-priority-select", "t-priority-save", "t-group", "t-group-save",
      "t-reply-text", "t-reply-send"]) $(id).disabled = !changeable || closed;
    $("t-take").disabled = closed || t.status === "resolved" || t.assignee_id === ui.me().id
      || (!changeable && !supervising());
    $("t-reply-text").placeholder = closed ? "工单已关闭，不能再回复"
      : changeable ? "回复顾客或添加内部备注；输入 / 选用快捷回复" : "该工单由其他客服处理，您可以查看但不能回复";
    renderHistory(t);
  }

  function historyText(e) {
    const d = e.data || {};
    switch (e.type) {
      case "created": return "创建了工单";
      case "assigned": return `分配给 ${personName(d.new)}${d.how === "router" ? "（技能组自动分配）" : ""}`;
      case "status_changed": return `状态：${STATUS[d.old] || d.old} → ${STATUS[d.new] || d.new}${d.note ? `（${d.note}）` : ""}`;
      case "priority_changed": return `优先级：${d.old} → ${d.new}`;
      case "category_changed": return `技能组：${skillName(d.old)} → ${skillName(d.new)}`;
      case "first_response": return "已首次响应";
      case "sla_breached": return d.timer === "first_response" ? "首次响应超时" : "解决时限超时";
      default: return e.type;
    }
  }

  function renderHistory(t) {
    const box = clear($("t-history"));
    for (const e of t.history) {
      const meta = el("div", { class: "meta" }, `${actorName(e.actor_id)} · ${fmtDateTime(e.created_at)}`);
      if (e.type === "comment") {
        const pub = e.data.public !== false;
        box.append(el("li", { class: `comment ${pub ? "public" : "note"}`, dataset: { eventId: String(e.id) } }, meta,
          el("div", { class: "kind", text: pub ? (e.actor_id === null ? "顾客回复" : "回复顾客") : "内部备注" }),
          el("div", { class: "text", text: e.data.text || "" })));
      } else {
        box.append(el("li", { class: "event", dataset: { eventId: String(e.id) } }, meta, el("div", { text: historyText(e) })));
      }
    }
    box.scrollTop = box.scrollHeight;
  }

  async function loadTranscript(t) {
    const box = clear($("t-transcript"));
    if (!t.conversation_id) {
      box.append(el("div", { class: "muted", text: "该工单不是从会话创建的" }));
      return;
    }
    let conv;
    try {
      conv = await ui.call(`/api/v1/tickets/${encodeURIComponent(t.id)}/conversation`);
    } catch (err) {
      box.append(el("div", { class: "error", text: `读取会话记录失败：${err.message}` }));
      return;
    }
    if (!detail || detail.id !== t.id) return;  // another ticket was opened meanwhile
    if (!conv.transcript.length) box.append(el("div", { class: "muted", text: "会话中没有消息" }));
    for (const m of conv.transcript) {
      box.append(el("div", { class: `line ${m.sender}`, dataset: { id: String(m.id) } },
        el("div", { class: "meta", text: `${ui.SENDER[m.sender] || m.sender} ${fmtTime(m.created_at)}` }),
        el("div", { class: "text", text: m.text })));
    }
    box.scrollTop = box.scrollHeight;
  }

  async function change(path, body, done) {
    if (!detail) return;
    try {
      const t = await ui.call(`/api/v1/tickets/${encodeURIComponent(detail.id)}${path}`, { method: path ? "POST" : "PATCH", body });
      showDetail(t);
      toast(done(t), "ok");
      loadList();
    } catch (err) {
      const reason = err.status === 404 ? "该工单不存在或您无权查看"
        : err.status === 403 ? "只有处理人或主管可以修改该工单" : err.message;
      toast(`操作失败：${reason}`, "error");
    }
  }

  $("t-status-save").addEventListener("click", () => {
    const status = $("t-status-select").value;
    if (detail && status === detail.status) { toast("状态没有变化"); return; }
    change("", { status }, (t) => `工单状态已更新为“${STATUS[t.status]}”`);
  });
  $("t-priority-save").addEventListener("click", () => {
    change("", { priority: Number($("t-priority-select").value) }, (t) => `优先级已调整为 ${t.priority}`);
  });
  $("t-take").addEventListener("click", () => {
    change("/assign", { agent_id: ui.me().id }, () => "工单已分配给您");
  });
  $("t-group-save").addEventListener("click", () => {
    const skill = $("t-group").value;
    change("/assign", { skill }, (t) => `已转给${skillName(skill)}组，由 ${personName(t.assignee_id)} 处理`);
  });

  $("t-reply-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!detail) return;
    const text = $("t-reply-text").value.trim();
    if (!text) { toast("请先填写回复内容", "error"); return; }
    const isPublic = $("t-kind-public").checked;
    if (isPublic && text.length > 2000) { toast("回复顾客的内容最多 2000 字，请精简后再发送", "error"); return; }
    $("t-reply-send").disabled = true;
    try {
      const t = await ui.call(`/api/v1/tickets/${encodeURIComponent(detail.id)}/comments`,
        { method: "POST", body: { text, public: isPublic } });
      $("t-reply-text").value = "";
      showDetail(t);
      if (isPublic && t.conversation_id) loadTranscript(t);
      toast(isPublic ? "回复已发送给顾客" : "内部备注已保存", "ok");
      loadList();
    } catch (err) {
      toast(`提交失败：${err.status === 404 ? "该工单不存在或您无权查看" : err.message}`, "error");
      $("t-reply-send").disabled = false;
    }
  });
  $("t-reply-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $("t-reply-form").requestSubmit();
    }
  });

  // ------------------------------------------------------------------ a ticket from the open conversation
  const dialog = $("ticket-create");
  $("ticket-from-conv").addEventListener("click", () => {
    const id = ui.current();
    if (!id) { toast("请先选择一个会话"); return; }
    const info = ui.conversation(id) || {};
    $("tc-subject").value = "";
    $("tc-description").value = "";
    $("tc-category").value = info.skill && info.skill in ui.SKILLS ? info.skill : "after_sales";
    $("tc-assign").value = "auto";
    dialog.dataset.conversationId = id;
    dialog.showModal();
    $("tc-subject").focus();
  });
  $("tc-cancel").addEventListener("click", () => dialog.close());
  $("ticket-create-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const subject = $("tc-subject").value.trim();
    if (subject.length < 2) { toast("请填写工单主题（至少 2 个字）", "error"); return; }
    $("tc-submit").disabled = true;
    try {
      const t = await ui.call("/api/v1/tickets", { method: "POST", body: {
        subject, description: $("tc-description").value.trim(), conversation_id: dialog.dataset.conversationId,
        category: $("tc-category").value, assign: $("tc-assign").value,
      } });
      dialog.close();
      toast(`工单 ${t.ref} 已创建，${t.assignee_id === ui.me().id ? "由您跟进" : `由${skillName(t.category)}组 ${personName(t.assignee_id)} 跟进`}`, "ok");
      if (!$("tab-tickets").hidden) loadList();
    } catch (err) {
      toast(`创建工单失败：${err.message}`, "error");
    } finally {
      $("tc-submit").disabled = false;
    }
  });
})();
