/* KPI dashboard for supervisors: KPIs from /api/v1/kpis, alerts from /api/v1/alerts, live queue and agents' load. */
"use strict";

(() => {
  const { el, clear, api, fmtPct, fmtSeconds, fmtDateTime, toast } = kefu;
  const $ = (id) => document.getElementById(id);
  const CHANNELS = { web: "网页", app: "App", miniprogram: "小程序" };
  const SKILLS = { after_sales: "售后", logistics: "物流", billing: "支付与发票", product: "商品咨询", vip: "VIP 专席", general: "综合" };
  const STATUS = { online: "在线", away: "小休", offline: "离线" };
  const SIGNAL = { angry: "愤怒顾客激增", topic: "热点问题激增", queue_wait: "排队等待过长" };
  let token = null;
  let timer = null;

  const auth = kefu.loginFlow({
    scope: "supervisor", roles: ["supervisor"], form: $("login-form"), errorBox: $("login-error"),
    onLogin: ({ token: t, claims }) => {
      token = t;
      $("login").hidden = true;
      $("app").hidden = false;
      $("me-name").textContent = `${claims.name}（${kefu.ROLE_NAMES[claims.role] || claims.role}）`;
      refresh();
      timer = setInterval(refreshLive, 10000);
    },
    onLogout: () => { clearInterval(timer); location.reload(); },
  });
  $("logout").addEventListener("click", () => auth.logout());
  $("refresh").addEventListener("click", () => refresh());
  $("range").addEventListener("change", () => refresh());
  $("channel").addEventListener("change", () => refresh());
  $("perf-period").addEventListener("change", () => loadPerformance());
  $("perf-csv").addEventListener("click", () => exportPerformance());

  async function call(path, options = {}) {
    try {
      return await api(path, { ...options, token });
    } catch (err) {
      if (err.status === 401) auth.logout();
      throw err;
    }
  }

  async function refresh() {
    await Promise.all([loadKpis(), loadPerformance(), refreshLive()]);
    $("updated").textContent = `更新于 ${fmtDateTime(new Date().toISOString())}`;
  }

  async function refreshLive() {
    await Promise.all([loadAlerts(), loadQueue(), loadAgents()]);
  }

  // ------------------------------------------------------------------ KPIs
  function card(label, value, hint, mood) {
    return el("div", { class: `card ${mood || ""}`.trim(), dataset: { kpi: label } },
      el("div", { class: "label", text: label }), el("div", { class: "value", text: value }),
      hint ? el("div", { class: "hint", text: hint }) : null);
  }

  async function loadKpis() {
    const until = new Date();
    const since = new Date(until.getTime() - Number($("range").value) * 3600 * 1000);
    const params = new URLSearchParams({ since: since.toISOString(), until: until.toISOString() });
    if ($("channel").value) params.set("channel", $("channel").value);
    let r;
    try {
      r = await call(`/api/v1/kpis?${params}`);
    } catch (err) {
      clear($("cards")).append(el("div", { class: "error", text: `读取指标失败：${err.message}` }));
      return;
    }
    const t = r.totals;
    const sl = t.service_level;
    clear($("cards")).append(
      card("会话总数", String(t.conversations), `已结束 ${t.ended} 个 · 进行中 ${t.open} 个`),
      card("机器人解决率", fmtPct(t.containment_rate), `已结束的 ${t.ended} 个会话中，${t.bot_resolved} 个未转人工即结束`),
      card("FAQ 回答率", fmtPct(t.faq_answer_rate), `FAQ 判断 ${t.faq_decisions} 次，直接回答 ${t.faq_answered} 次`),
      card("转人工率", fmtPct(t.escalation_rate), `${t.handoffs} 个会话转人工（排队 ${t.queued} 个 · 无人在线留言 ${t.left_message} 个）`),
      card("首次响应时间", fmtSeconds(t.first_response_s), `P90 ${fmtSeconds(t.first_response_p90_s)}`),
      card("平均应答速度", fmtSeconds(t.asa_s), "排队到客服接入"),
      card(`服务水平（${Math.round(r.service_level_target * 100)}/${Math.round(r.service_level_s)}）`, fmtPct(sl),
        r.service_level_met === null ? "暂无数据" : r.service_level_met ? "达标" : "未达标",
        r.service_level_met === null ? "" : r.service_level_met ? "good" : "bad"),
      card("放弃率", fmtPct(t.abandonment_rate), `排队的 ${t.queued} 个会话中 ${t.abandoned} 个离开`, t.abandonment_rate > 0.1 ? "bad" : ""),
      card("满意度", t.csat_avg === null ? "—" : `${t.csat_avg.toFixed(2)} / 5`, `好评率 ${fmtPct(t.csat_share)} · ${t.surveys} 份评价`),
      card("工单", String(t.tickets), `SLA 超时 ${t.ticket_sla_breaches} 张`),
    );

    const hours = r.by_hour || [];
    const labels = hours.map((h) => `${new Date(h.hour).getHours()}时`);
    clear($("chart-volume")).append(charts.bars({
      groups: labels, title: "按小时会话量",
      series: [{ name: "会话", values: hours.map((h) => h.values.conversations) },
        { name: "转人工会话", values: hours.map((h) => h.values.handoffs) },
        { name: "放弃", values: hours.map((h) => h.values.abandoned) }],
    }));
    const pct = (v) => `${Math.round(v * 100)}%`;
    clear($("chart-rates")).append(charts.line({
      labels, max: 1, fmt: pct, title: "按小时比率",
      series: [{ name: "机器人解决率", values: hours.map((h) => h.values.containment_rate) },
        { name: "FAQ 回答率", values: hours.map((h) => h.values.faq_answer_rate) },
        { name: "服务水平", values: hours.map((h) => h.values.service_level) }],
    }));
    clear($("chart-speed")).append(charts.line({
      labels, fmt: (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)), title: "按小时速度",
      series: [{ name: "平均应答速度", values: hours.map((h) => h.values.asa_s) },
        { name: "首次响应", values: hours.map((h) => h.values.first_response_s) }],
    }));
    const chans = Object.entries(r.by_channel || {});
    clear($("chart-channels")).append(charts.bars({
      groups: chans.map(([c]) => CHANNELS[c] || c), max: 1, fmt: pct, title: "按渠道比率",
      series: [{ name: "机器人解决率", values: chans.map(([, v]) => v.containment_rate) },
        { name: "转人工率", values: chans.map(([, v]) => v.escalation_rate) },
        { name: "放弃率", values: chans.map(([, v]) => v.abandonment_rate) },
        { name: "好评率", values: chans.map(([, v]) => v.csat_share) }],
    }));
    const table = clear($("channel-table"));
    table.append(el("thead", {}, el("tr", {}, ["渠道", "会话", "解决率", "FAQ 回答率", "转人工率", "应答速度", "服务水平", "放弃率", "满意度"]
      .map((h) => el("th", { text: h })))));
    table.append(el("tbody", {}, chans.map(([c, v]) => el("tr", {},
      el("td", { text: CHANNELS[c] || c }), el("td", { text: String(v.conversations) }), el("td", { text: fmtPct(v.containment_rate) }),
      el("td", { text: fmtPct(v.faq_answer_rate) }), el("td", { text: fmtPct(v.escalation_rate) }), el("td", { text: fmtSeconds(v.asa_s) }),
      el("td", { text: fmtPct(v.service_level) }), el("td", { text: fmtPct(v.abandonment_rate) }),
      el("td", { text: v.csat_avg === null ? "—" : v.csat_avg.toFixed(2) })))));
    if (!chans.length) table.append(el("tbody", {}, el("tr", {}, el("td", { colspan: 9, class: "muted", text: "所选时间内没有会话" }))));
  }

  // ------------------------------------------------------------------ per-agent performance
  function perfParams(format) {
    const until = new Date();
    const since = new Date(until.getTime() - Number($("range").value) * 3600 * 1000);
    return new URLSearchParams({ since: since.toISOString(), until: until.toISOString(), period: $("perf-period").value, format });
  }

  async function loadPerformance() {
    const table = clear($("perf-table"));
    let r;
    try {
      r = await call(`/api/v1/reports/agents?${perfParams("json")}`);
    } catch (err) {
      table.append(el("tbody", {}, el("tr", {}, el("td", { class: "error", text: `读取客服绩效失败：${err.message}` }))));
      return;
    }
    const week = r.period === "week";
    table.append(el("thead", {}, el("tr", {}, ["客服", week ? "周（起始日）" : "日期", "接待量", "首次响应", "平均处理时长", "无工单解决率",
      "转接率", "满意度", "质检得分", "占用率"].map((h) => el("th", { text: h })))));
    table.append(el("tbody", {}, r.rows.map((row) => el("tr", { dataset: { agentId: row.agent_id, period: row.period_start } },
      el("td", { text: row.name }), el("td", { text: row.period_start }), el("td", { class: "perf-handled", text: String(row.handled) }),
      el("td", { text: fmtSeconds(row.first_response_s) }), el("td", { class: "perf-aht", text: fmtSeconds(row.aht_s) }),
      el("td", { text: fmtPct(row.resolution_rate) }), el("td", { text: fmtPct(row.transfer_rate) }),
      el("td", { text: row.csat_avg === null ? "—" : `${row.csat_avg.toFixed(2)}（${row.surveys} 份）` }),
      el("td", { class: "perf-quality", text: row.quality_score === null ? "—" : `${row.quality_score.toFixed(1)}（${row.reviews} 次）` }),
      el("td", { text: fmtPct(row.occupancy) })))));
    if (!r.rows.length) table.append(el("tbody", {}, el("tr", {}, el("td", { colspan: 10, class: "muted", text: "所选时间内没有客服接待记录" }))));
  }

  async function exportPerformance() {
    try {
      const res = await api(`/api/v1/reports/agents?${perfParams("csv")}`, { token, raw: true });  // the reason in 中文 on failure
      kefu.download(await res.blob(), `客服绩效_${$("perf-period").value === "week" ? "按周" : "按天"}.csv`);
    } catch (err) {
      toast(`导出失败：${err.message}`, "error");
    }
  }

  // ------------------------------------------------------------------ live panels
  async function loadAlerts() {
    const box = $("alerts");
    let alerts;
    try {
      alerts = await call("/api/v1/alerts?limit=50");
    } catch (err) {
      box.textContent = err.status === 404 ? "告警服务未启用" : `读取告警失败：${err.message}`;
      return;
    }
    const open = alerts.filter((a) => a.status !== "resolved");
    $("alert-count").textContent = String(open.length);
    $("alert-count").className = open.some((a) => a.severity === "critical") ? "badge red" : open.length ? "badge orange" : "badge";
    clear(box);
    box.className = open.length ? "" : "muted";
    if (!open.length) box.textContent = "暂无告警";
    for (const a of open) {
      box.append(el("div", { class: `alert alert-${a.severity}`, dataset: { alertId: a.id } },
        el("div", {}, el("strong", { text: SIGNAL[a.signal] || a.signal }), " ",
          el("span", { class: `badge ${a.severity === "critical" ? "red" : "orange"}`, text: a.severity === "critical" ? "严重" : "警告" }),
          " ", el("span", { class: "muted", text: fmtDateTime(a.created_at) })),
        el("div", { text: a.message }),
        a.status === "open" ? el("button", { type: "button", class: "small", text: "确认", onclick: () => setAlert(a.id, "acknowledged") }) : el("span", { class: "muted", text: "已确认 " }),
        " ", el("button", { type: "button", class: "small", text: "已处理", onclick: () => setAlert(a.id, "resolved") })));
    }
  }

  async function setAlert(id, status) {
    try {
      await call(`/api/v1/alerts/${id}/status`, { method: "POST", body: { status } });
      loadAlerts();
    } catch (err) {
      toast(`操作失败：${err.message}`, "error");
    }
  }

  async function loadQueue() {
    const table = clear($("queue-table"));
    let q;
    try {
      q = await call("/api/v1/agents/queue");
    } catch (err) {
      table.append(el("tbody", {}, el("tr", {}, el("td", { class: "error", text: `读取排队情况失败：${err.message}` }))));
      return;
    }
    table.append(el("thead", {}, el("tr", {}, ["技能组", "排队中", "待接入", "接待中", "最长等待", "在线客服"].map((h) => el("th", { text: h })))));
    const rows = Object.entries(q.skills || {});
    table.append(el("tbody", {}, rows.map(([skill, v]) => el("tr", {},
      el("td", { text: SKILLS[skill] || skill }), el("td", { text: String(v.waiting) }), el("td", { text: String(v.offered) }),
      el("td", { text: String(v.assigned) }), el("td", { class: v.oldest_wait_s > 60 ? "mood-angry" : "", text: fmtSeconds(v.oldest_wait_s) }),
      el("td", { text: String(v.agents_online) })))));
    table.append(el("tfoot", {}, el("tr", {}, el("td", { colspan: 6, class: "muted",
      text: `在线客服 ${q.agents_online} 人 · 待接入邀请 ${q.pending_offers} 个 · 近期平均应答 ${fmtSeconds(q.asa_recent_s)}` }))));
  }

  async function loadAgents() {
    const table = clear($("agents-table"));
    let agents;
    try {
      agents = await call("/api/v1/admin/agents");
    } catch (err) {
      table.append(el("tbody", {}, el("tr", {}, el("td", { class: "error", text: `读取客服负载失败：${err.message}` }))));
      return;
    }
    table.append(el("thead", {}, el("tr", {}, ["客服", "状态", "当前接待", "容量", "待接入", "技能"].map((h) => el("th", { text: h })))));
    table.append(el("tbody", {}, agents.map((a) => {
      const cap = Object.values(a.capacity).reduce((x, y) => x + y, 0);
      const load = Object.values(a.load).reduce((x, y) => x + y, 0);
      return el("tr", { dataset: { agentId: a.id } },
        el("td", { text: `${a.name} #${a.id}` }),
        el("td", {}, el("span", { class: `badge ${a.status === "online" ? "green" : ""}`, text: STATUS[a.status] || a.status })),
        el("td", { text: String(a.conversations) }),
        el("td", { class: cap && load >= cap ? "mood-angry" : "", text: `${load}/${cap}` }),
        el("td", { text: String(a.pending_offers) }),
        el("td", {}, Object.entries(a.skills).map(([s, lvl]) => el("span", { class: "tag", text: `${SKILLS[s] || s} ${lvl}` }))));
    })));
    if (!agents.length) table.append(el("tbody", {}, el("tr", {}, el("td", { colspan: 6, class: "muted", text: "暂无客服" }))));
  }
})();
