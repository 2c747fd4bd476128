/* Quality inspection tab of the supervisor page: review queue (flagged + sampled) with pre-scores, scoring,
   appeals, rubric and settings. */
"use strict";

(() => {
  const { el, clear, api, fmtTime, toast } = kefu;
  const $ = (id) => document.getElementById(id);
  const FLAGS = { anger: "顾客愤怒", wait_over_sla: "排队超时", csat_low: "满意度低", forbidden: "出现禁用语", silence: "客服长时间未回复" };
  const STATUS = { pending: "待质检", completed: "已完成", appealed: "申诉中" };
  const SENDER = { customer: "顾客", agent: "客服", bot: "机器人", system: "系统", supervisor: "主管悄悄话" };
  let token = null;
  let rubric = [];
  let names = {};
  let current = null;

  document.addEventListener("kefu-supervisor-login", () => { token = window.kefuSupervisor.token; build(); });
  document.addEventListener("kefu-tab", (e) => { if (e.detail === "quality") load(); });

  const call = (path, options = {}) => api(path, { ...options, token });

  function build() {
    clear($("tab-quality")).append(
      el("section", { class: "charts" },
        el("div", { class: "panel" }, el("h2", {}, "质检队列 ", el("span", { class: "muted", text: "（当天结束的会话：全部标记会话 + 按比例抽检）" })),
          el("table", { id: "qa-queue" })),
        el("div", { class: "panel editor", id: "qa-review", hidden: true },
          el("h2", { id: "qa-title", text: "评分" }), el("div", { class: "muted", id: "qa-meta" }),
          el("div", { class: "transcript", id: "qa-transcript" }),
          el("form", { id: "qa-form" }, el("div", { id: "qa-items", class: "row" }),
            el("label", { for: "qa-comment", text: "评语（客服可以看到）" }), el("textarea", { id: "qa-comment", rows: 3, maxlength: 2000 }),
            el("div", { class: "actions" }, el("button", { type: "submit", class: "primary", id: "qa-submit", text: "提交评分" })),
            el("div", { class: "error", id: "qa-error", role: "alert" })))),
      el("section", { class: "charts" },
        el("div", { class: "panel" }, el("h2", { text: "评分标准（项目与权重）" }), el("table", { id: "qa-rubric" }),
          el("button", { type: "button", class: "small", id: "qa-rubric-save", text: "保存评分标准" })),
        el("div", { class: "panel editor" }, el("h2", { text: "质检设置" }),
          el("label", { for: "qa-rate", text: "每日抽检比例（0-1，例如 0.1 表示每位客服抽检 10% 的会话）" }),
          el("input", { id: "qa-rate", type: "number", min: 0, max: 1, step: 0.01 }),
          el("label", { for: "qa-forbidden", text: "禁用语（每行一个）" }), el("textarea", { id: "qa-forbidden", rows: 4 }),
          el("label", { for: "qa-silence", text: "客服未回复超过多少秒视为长时间沉默" }),
          el("input", { id: "qa-silence", type: "number", min: 10, max: 3600 }),
          el("div", { class: "actions" }, el("button", { type: "button", class: "small", id: "qa-settings-save", text: "保存设置" })))));
    $("qa-form").addEventListener("submit", (e) => { e.preventDefault(); submit(); });
    $("qa-rubric-save").addEventListener("click", () => saveRubric());
    $("qa-settings-save").addEventListener("click", () => saveSettings());
  }

  async function load() {
    try {
      const [r, members, cfg] = await Promise.all([call("/api/v1/quality/rubric"), call("/api/v1/team/members"), call("/api/v1/quality/settings")]);
      rubric = r;
      names = Object.fromEntries(members.map((m) => [m.id, m.display_name]));
      renderRubric();
      $("qa-rate").value = String(cfg.sample_rate);
      $("qa-forbidden").value = cfg.forbidden_phrases.join("\n");
      $("qa-silence").value = String(cfg.silence_s);
      await loadQueue();
    } catch (err) {
      toast(`读取质检数据失败：${err.message}`, "error");
    }
  }

  function preText(pre) {
    const label = Object.fromEntries(rubric.map((i) => [i.key, i.label]));
    return Object.entries(pre).map(([k, v]) => `${label[k] || k} ${v}`).join("，") || "—";
  }

  async function loadQueue() {
    const reviews = await call("/api/v1/quality/reviews");
    const open = reviews.filter((r) => r.status !== "completed").concat(reviews.filter((r) => r.status === "completed").slice(0, 20));
    const table = clear($("qa-queue"));
    table.append(el("thead", {}, el("tr", {}, ["客服", "原因", "自动预评分", "状态", "得分", ""].map((h) => el("th", { text: h })))));
    table.append(el("tbody", {}, open.map((r) => el("tr", { dataset: { reviewId: r.id, conversationId: r.conversation_id } },
      el("td", { text: names[r.agent_id] || `#${r.agent_id}` }),
      el("td", {}, r.reason === "sampled" ? el("span", { class: "tag", text: "抽检" }) : r.flags.map((f) => el("span", { class: "badge orange", text: FLAGS[f] || f }))),
      el("td", { class: "qa-pre", text: preText(r.pre_scores) }),
      el("td", { text: STATUS[r.status] || r.status }), el("td", { text: r.total === null ? "—" : r.total.toFixed(1) }),
      el("td", {}, el("button", { type: "button", class: "small", text: r.status === "appealed" ? "处理申诉" : r.status === "pending" ? "评分" : "查看", onclick: () => open_(r) }))))));
    if (!open.length) table.append(el("tbody", {}, el("tr", {}, el("td", { colspan: 6, class: "muted", text: "暂无待质检的会话" }))));
  }

  async function open_(r) {
    current = r;
    $("qa-review").hidden = false;
    $("qa-title").textContent = `评分：${names[r.agent_id] || `#${r.agent_id}`} 的会话`;
    $("qa-meta").textContent = r.status === "appealed" ? `客服申诉：${r.appeal_text}` : r.comment ? `上次评语：${r.comment}` : "";
    const box = clear($("qa-items"));
    for (const item of rubric) {
      const value = r.scores ? r.scores[item.key] : r.pre_scores[item.key];
      box.append(el("div", {}, el("label", { for: `qa-score-${item.key}`, text: `${item.label}（权重 ${item.weight}${item.auto ? "，已自动预评分" : ""}）` }),
        el("input", { id: `qa-score-${item.key}`, type: "number", min: 0, max: 100, required: true, value: value === undefined ? "" : String(value), dataset: { key: item.key } })));
    }
    $("qa-comment").value = "";
    $("qa-error").textContent = "";
    const lines = await call(`/api/v1/supervision/conversations/${encodeURIComponent(r.conversation_id)}/transcript`);
    clear($("qa-transcript")).append(...lines.map((m) => {
      const sender = m.kind === "whisper" ? "supervisor" : m.sender;
      return el("div", { class: `line ${m.kind === "whisper" ? "whisper" : sender}` },
        el("div", { class: "meta", text: `${SENDER[sender] || sender} ${fmtTime(m.created_at)}${m.sentiment === "angry" ? " · 愤怒" : ""}` }),
        el("div", { class: "text", text: m.text }));
    }));
  }

  async function submit() {
    if (!current) return;
    const scores = {};
    for (const input of $("qa-items").querySelectorAll("input")) scores[input.dataset.key] = Number(input.value);
    try {
      const done = await call(`/api/v1/quality/reviews/${current.id}`, { method: "POST", body: { scores, comment: $("qa-comment").value.trim() || null } });
      toast(`评分已提交，总分 ${done.total.toFixed(1)}`, "ok");
      $("qa-review").hidden = true;
      current = null;
      loadQueue();
    } catch (err) {
      $("qa-error").textContent = `提交失败：${err.message}`;
    }
  }

  function renderRubric() {
    const table = clear($("qa-rubric"));
    table.append(el("thead", {}, el("tr", {}, ["项目", "权重", "自动预评分"].map((h) => el("th", { text: h })))));
    table.append(el("tbody", {}, rubric.map((i) => el("tr", { dataset: { key: i.key, auto: i.auto || "" } },
      el("td", {}, el("input", { type: "text", value: i.label, class: "qa-label", "aria-label": "项目名称" })),
      el("td", {}, el("input", { type: "number", min: 1, max: 100, value: String(i.weight), class: "qa-weight", "aria-label": "权重" })),
      el("td", { text: { greeting: "问候语", first_response: "首次响应时间", forbidden: "禁用语" }[i.auto] || "人工评分" })))));
  }

  async function saveRubric() {
    const items = [...$("qa-rubric").querySelectorAll("tbody tr")].map((tr) => ({ key: tr.dataset.key,
      label: tr.querySelector(".qa-label").value.trim(), weight: Number(tr.querySelector(".qa-weight").value), auto: tr.dataset.auto || null }));
    try {
      rubric = await call("/api/v1/quality/rubric", { method: "PUT", body: items });
      toast("评分标准已保存", "ok");
    } catch (err) {
      toast(`保存失败：${err.message}`, "error");
    }
  }

  async function saveSettings() {
    try {
      const cfg = await call("/api/v1/quality/settings");
      await call("/api/v1/quality/settings", { method: "PUT", body: { ...cfg, sample_rate: Number($("qa-rate").value),
        forbidden_phrases: $("qa-forbidden").value.split("\n").map((x) => x.trim()).filter(Boolean), silence_s: Number($("qa-silence").value) } });
      toast("质检设置已保存", "ok");
    } catch (err) {
      toast(`保存失败：${err.message}`, "error");
    }
  }
})();
