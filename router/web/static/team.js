/* Team set-up for supervisors and admins: members (skills, languages, capacity, role, disable, password),
   working hours per skill group, audit trail. Every change reaches routing at once (no restart). */
"use strict";

(() => {
  const { el, clear, api, fmtDateTime, toast, ROLE_NAMES } = kefu;
  const $ = (id) => document.getElementById(id);
  const SKILLS = { after_sales: "售后", logistics: "物流", billing: "支付与发票", product: "商品咨询", vip: "VIP 专席", general: "综合" };
  const STATUS = { online: "在线", away: "小休", offline: "离线", disabled: "已停用" };
  const DAYS = ["一", "二", "三", "四", "五", "六", "日"];
  const ACTIONS = { member_created: "新增成员", member_updated: "修改成员", password_reset: "重置密码", hours_set: "设置服务时间",
    hours_removed: "取消服务时间", whisper: "悄悄话", barge_in: "强插接管", reroute: "重新分配", review: "质检评分", appeal: "申诉" };
  let token = null;
  let editing = null; // the member being edited, or null for a new one
  let members = [];

  const auth = kefu.loginFlow({
    scope: "supervisor", roles: ["supervisor"], form: $("login-form"), errorBox: $("login-error"),
    onLogin: ({ token: t, claims }) => {
      token = t;
      $("login").hidden = true;
      $("app").hidden = false;
      $("me-name").textContent = `${claims.name}（${ROLE_NAMES[claims.role] || claims.role}）`;
      buildSkillInputs();
      refresh();
    },
    onLogout: () => location.reload(),
  });
  $("logout").addEventListener("click", () => auth.logout());
  $("new-member").addEventListener("click", () => edit(null));
  $("member-form").addEventListener("submit", (e) => { e.preventDefault(); save(); });
  $("m-toggle").addEventListener("click", () => toggleActive());
  $("m-reset").addEventListener("click", () => resetPassword());

  async function call(path, options = {}) {
    try {
      return await api(path, { ...options, token });
    } catch (err) {
      if (err.status === 401) auth.logout();
      if (err.status === 422 && Array.isArray(err.detail)) {
        err.message = `填写的内容有误：${err.detail.map((d) => (d.msg || "").replace(/^Value error, /, "")).join("；")}`;
      }
      throw err;
    }
  }

  async function refresh() {
    await loadMembers(); // the audit shows member names
    await Promise.all([loadHours(), loadAudit()]);
  }

  function buildSkillInputs() {
    const box = clear($("m-skills"));
    for (const [skill, name] of Object.entries(SKILLS)) {
      const select = el("select", { id: `skill-${skill}`, "aria-label": `${name}熟练度` },
        el("option", { value: "0", text: "不具备" }), [1, 2, 3, 4, 5].map((n) => el("option", { value: String(n), text: `${n} 级` })));
      box.append(el("div", {}, el("label", { for: `skill-${skill}`, text: name }), select));
    }
  }

  async function loadMembers() {
    members = await call("/api/v1/team/members");
    const table = clear($("members"));
    table.append(el("thead", {}, el("tr", {}, ["成员", "角色", "状态", "技能", "语言", "容量", ""].map((h) => el("th", { text: h })))));
    table.append(el("tbody", {}, members.map((m) => el("tr", { dataset: { memberId: m.id, username: m.username } },
      el("td", { text: `${m.display_name}（${m.username}）` }),
      el("td", { text: ROLE_NAMES[m.role] || m.role }),
      el("td", {}, el("span", { class: `badge ${m.status === "online" ? "green" : m.status === "disabled" ? "red" : ""}`, text: STATUS[m.status] || m.status })),
      el("td", {}, Object.entries(m.skills).map(([s, lvl]) => el("span", { class: "tag", text: `${SKILLS[s] || s} ${lvl}` }))),
      el("td", { text: m.languages.join(", ") }),
      el("td", { text: Object.entries(m.capacity).map(([c, n]) => `${c === "chat" ? "在线会话" : c} ${n}`).join("，") }),
      el("td", {}, el("button", { type: "button", class: "small", text: "编辑", onclick: () => edit(m) }))))));
  }

  function edit(m) {
    editing = m;
    $("form-title").textContent = m ? `编辑成员：${m.display_name}` : "新增成员";
    $("m-username").value = m ? m.username : "";
    $("m-username").disabled = Boolean(m);
    $("m-name").value = m ? m.display_name : "";
    $("m-password").value = "";
    $("m-password").required = !m;
    $("m-password-label").textContent = m ? "新密码（填写后点“重置密码”）" : "初始密码（至少 8 位）";
    $("m-role").value = m ? m.role : "agent";
    for (const skill of Object.keys(SKILLS)) $(`skill-${skill}`).value = String((m && m.skills[skill]) || 0);
    $("m-languages").value = m ? m.languages.join(", ") : "zh";
    $("m-capacity").value = String(m ? (m.capacity.chat ?? 0) : 3);
    $("m-toggle").hidden = !m;
    $("m-toggle").textContent = m && m.status === "disabled" ? "重新启用" : "停用";
    $("m-reset").hidden = !m;
    $("m-error").textContent = "";
  }

  function profile() {
    const skills = {};
    for (const skill of Object.keys(SKILLS)) {
      const lvl = Number($(`skill-${skill}`).value);
      if (lvl > 0) skills[skill] = lvl;
    }
    const languages = $("m-languages").value.split(/[,，\s]+/).map((x) => x.trim()).filter(Boolean);
    return { display_name: $("m-name").value.trim(), role: $("m-role").value, skills, languages,
      capacity: { chat: Number($("m-capacity").value) } };
  }

  async function save() {
    $("m-error").textContent = "";
    try {
      if (editing) {
        const body = profile();
        if (body.role === editing.role) delete body.role;
        await call(`/api/v1/team/members/${editing.id}`, { method: "PATCH", body });
        toast("已保存，路由立即按新设置分配会话", "ok");
      } else {
        await call("/api/v1/team/members", { method: "POST",
          body: { username: $("m-username").value.trim(), password: $("m-password").value, ...profile() } });
        toast("成员已创建，登录并上线后即可接待", "ok");
        edit(null);
      }
      await refresh();
    } catch (err) {
      $("m-error").textContent = `保存失败：${err.message}`;
    }
  }

  async function toggleActive() {
    if (!editing) return;
    const enable = editing.status === "disabled";
    if (!enable && !confirm(`确定停用 ${editing.display_name} 吗？停用后该账号无法登录，也不会再收到新会话。`)) return;
    try {
      await call(`/api/v1/team/members/${editing.id}`, { method: "PATCH", body: { is_active: enable } });
      toast(enable ? "已重新启用" : "已停用", "ok");
      await refresh();
      edit(members.find((m) => m.id === editing.id) || null);
    } catch (err) {
      $("m-error").textContent = `操作失败：${err.message}`;
    }
  }

  async function resetPassword() {
    if (!editing) return;
    const password = $("m-password").value;
    if (password.length < 8) { $("m-error").textContent = "请先在“新密码”中填写至少 8 位的新密码。"; return; }
    try {
      await call(`/api/v1/team/members/${editing.id}/password`, { method: "POST", body: { password } });
      $("m-password").value = "";
      toast("密码已重置，请通知本人使用新密码登录", "ok");
      loadAudit();
    } catch (err) {
      $("m-error").textContent = `重置失败：${err.message}`;
    }
  }

  async function loadHours() {
    const hours = Object.fromEntries((await call("/api/v1/team/hours")).map((h) => [h.skill, h]));
    const table = clear($("hours"));
    table.append(el("thead", {}, el("tr", {}, ["技能组", "服务日", "开始", "结束", ""].map((h) => el("th", { text: h })))));
    table.append(el("tbody", {}, Object.entries(SKILLS).map(([skill, name]) => {
      const h = hours[skill];
      const days = DAYS.map((d, i) => el("label", { class: "tag" },
        el("input", { type: "checkbox", dataset: { day: i }, checked: h ? h.days.includes(i) : i < 5 }), d));
      const opens = el("input", { type: "time", value: h ? h.opens : "09:00", "aria-label": `${name}开始时间` });
      const closes = el("input", { type: "time", value: h ? h.closes : "18:00", "aria-label": `${name}结束时间` });
      return el("tr", { dataset: { skill } },
        el("td", {}, name, h ? null : el("div", { class: "muted", text: "全天服务" })), el("td", {}, days), el("td", {}, opens), el("td", {}, closes),
        el("td", {},
          el("button", { type: "button", class: "small", text: "保存", onclick: () => saveHours(skill, days, opens, closes) }),
          h ? el("button", { type: "button", class: "small", text: "取消限制", onclick: () => removeHours(skill) }) : null));
    })));
  }

  async function saveHours(skill, days, opens, closes) {
    const picked = days.map((label) => label.querySelector("input")).filter((i) => i.checked).map((i) => Number(i.dataset.day));
    try {
      await call(`/api/v1/team/hours/${skill}`, { method: "PUT", body: { days: picked, opens: opens.value, closes: closes.value } });
      toast(`${SKILLS[skill]}服务时间已保存`, "ok");
      await Promise.all([loadHours(), loadAudit()]);
    } catch (err) {
      toast(`保存失败：${err.message}`, "error");
    }
  }

  async function removeHours(skill) {
    try {
      await call(`/api/v1/team/hours/${skill}`, { method: "DELETE" });
      await Promise.all([loadHours(), loadAudit()]);
    } catch (err) {
      toast(`操作失败：${err.message}`, "error");
    }
  }

  async function loadAudit() {
    const rows = await call("/api/v1/team/audit?limit=30");
    const names = Object.fromEntries(members.map((m) => [String(m.id), m.display_name]));
    const table = clear($("audit"));
    table.append(el("thead", {}, el("tr", {}, ["时间", "操作人", "操作", "对象"].map((h) => el("th", { text: h })))));
    table.append(el("tbody", {}, rows.map((r) => el("tr", {},
      el("td", { text: fmtDateTime(r.created_at) }), el("td", { text: names[String(r.actor_id)] || `#${r.actor_id}` }),
      el("td", { text: ACTIONS[r.action] || r.action }),
      el("td", { text: SKILLS[r.target] || names[r.target] || r.target })))));
    if (!rows.length) table.append(el("tbody", {}, el("tr", {}, el("td", { colspan: 4, class: "muted", text: "暂无记录" }))));
  }
})();
