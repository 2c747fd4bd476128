/* An agent's own performance (last 7 days) and quality reviews, with appeals. */
"use strict";

(() => {
  const { el, clear, api, fmtPct, fmtSeconds, toast, ROLE_NAMES } = kefu;
  const $ = (id) => document.getElementById(id);
  const STATUS = { completed: "已完成", appealed: "申诉中" };
  let token = null;
  let labels = {};

  const auth = kefu.loginFlow({
    scope: "agent", roles: ["agent", "supervisor"], form: $("login-form"), errorBox: $("login-error"),
    onLogin: ({ token: t, claims }) => {
      token = t;
      $("login").hidden = true;
      $("app").hidden = false;
      $("me-name").textContent = `${claims.name}（${ROLE_NAMES[claims.role] || claims.role}）`;
      load();
    },
    onLogout: () => location.reload(),
  });
  $("logout").addEventListener("click", () => auth.logout());
  const call = (path, options = {}) => api(path, { ...options, token });

  async function load() {
    try {
      const rubric = await call("/api/v1/quality/rubric");
      labels = Object.fromEntries(rubric.map((i) => [i.key, i.label]));
      await Promise.all([loadPerf(), loadReviews()]);
    } catch (err) {
      toast(`读取失败：${err.message}`, "error");
    }
  }

  async function loadPerf() {
    const r = await call("/api/v1/reports/agents?period=day");
    const t = r.totals[0];
    const table = clear($("my-perf"));
    table.append(el("thead", {}, el("tr", {}, ["接待量", "首次响应", "平均处理时长", "无工单解决率", "转接率", "满意度", "质检得分", "占用率"].map((h) => el("th", { text: h })))));
    table.append(el("tbody", {}, t ? el("tr", {}, el("td", { text: String(t.handled) }), el("td", { text: fmtSeconds(t.first_response_s) }),
      el("td", { text: fmtSeconds(t.aht_s) }), el("td", { text: fmtPct(t.resolution_rate) }), el("td", { text: fmtPct(t.transfer_rate) }),
      el("td", { text: t.csat_avg === null ? "—" : t.csat_avg.toFixed(2) }),
      el("td", { id: "my-quality", text: t.quality_score === null ? "—" : t.quality_score.toFixed(1) }),
      el("td", { text: fmtPct(t.occupancy) })) : el("tr", {}, el("td", { colspan: 8, class: "muted", text: "近 7 天没有接待记录" }))));
  }

  async function loadReviews() {
    const reviews = await call("/api/v1/quality/my-reviews");
    const box = clear($("my-reviews"));
    box.className = reviews.length ? "" : "muted";
    if (!reviews.length) box.textContent = "暂无质检结果";
    for (const r of reviews) {
      const scores = Object.entries(r.scores || {}).map(([k, v]) => `${labels[k] || k} ${v}`).join("，");
      const text = el("textarea", { rows: 2, maxlength: 2000, placeholder: "请说明申诉理由", "aria-label": "申诉理由" });
      box.append(el("div", { class: "panel", dataset: { reviewId: r.id } },
        el("div", {}, el("strong", { class: "review-total", text: `总分 ${r.total === null ? "—" : r.total.toFixed(1)}` }), " ",
          el("span", { class: "badge", text: STATUS[r.status] || r.status }), " ", el("span", { class: "muted", text: `会话日期 ${r.day}` })),
        el("div", { text: scores }),
        r.comment ? el("div", { class: "review-comment", text: `评语：${r.comment}` }) : null,
        r.appeal_text ? el("div", { class: "muted", text: `我的申诉：${r.appeal_text}` }) : null,
        r.appeal_reply ? el("div", { text: `主管答复：${r.appeal_reply}` }) : null,
        r.status === "completed" && !r.appeal_text ? el("div", {}, text,
          el("button", { type: "button", class: "small", text: "提交申诉", onclick: () => appeal(r.id, text.value.trim()) })) : null));
    }
  }

  async function appeal(id, text) {
    if (!text) { toast("请先填写申诉理由", "error"); return; }
    try {
      await call(`/api/v1/quality/my-reviews/${id}/appeal`, { method: "POST", body: { text } });
      toast("申诉已提交，主管会尽快复核", "ok");
      loadReviews();
    } catch (err) {
      toast(`申诉失败：${err.message}`, "error");
    }
  }
})();
