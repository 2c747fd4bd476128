"use strict";
/* Admin page of outbound delivery: the app channel's callback URL (secret shown once) and the dead-letter list. */
(() => {
  const { el, api, clear, fmtDateTime, toast } = kefu;
  const $ = (id) => document.getElementById(id);
  let token = null;

  function renderEndpoint(endpoints) {
    const box = $("endpoint");
    clear(box);
    const ep = endpoints.find((e) => e.channel === "app");
    if (!ep) {
      box.append(el("p", { text: "尚未设置回调地址：App 用户目前只能通过轮询接口收到客服消息。" }));
      return;
    }
    const counts = ep.counts || {};
    box.append(
      el("p", { text: `当前地址：${ep.url}` }),
      el("p", { text: ep.enabled ? "状态：投递中" : `状态：已暂停（${ep.disabled_reason || "原因未知"}）` }),
      el("p", { text: `已送达 ${counts.delivered || 0} 条 · 等待投递 ${counts.pending || 0} 条 · 失败 ${counts.dead || 0} 条` }),
    );
    const toggle = el("button", { type: "button", text: ep.enabled ? "暂停投递" : "恢复投递" });
    toggle.addEventListener("click", async () => {
      await api("/api/v1/admin/outbound/endpoints/app/enabled", { method: "PUT", token, body: { enabled: !ep.enabled } });
      load();
    });
    const rotate = el("button", { type: "button", text: "更换密钥" });
    rotate.addEventListener("click", async () => showSecret(await api("/api/v1/admin/outbound/endpoints/app/rotate-secret", { method: "POST", token })));
    box.append(toggle, rotate);
  }

  function showSecret(result) {
    $("secret").textContent = result.secret;
    $("secret-box").hidden = false;
    load();
  }

  function renderDead(rows) {
    const body = $("dead").querySelector("tbody");
    clear(body);
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: "6", text: "没有投递失败的消息。" })));
    for (const row of rows) {
      const retry = el("button", { type: "button", text: "重新投递" });
      retry.addEventListener("click", async () => {
        await api(`/api/v1/admin/outbound/messages/${row.id}/retry`, { method: "POST", token });
        toast("已重新加入投递队列");
        load();
      });
      body.append(el("tr", {},
        el("td", { text: fmtDateTime(row.created_at) }),
        el("td", { text: row.conversation_id.slice(0, 8) }),
        el("td", { text: row.event }),
        el("td", { text: String(row.attempts) }),
        el("td", { text: row.last_error || "" }),
        el("td", {}, retry)));
    }
  }

  async function load() {
    try {
      renderEndpoint(await api("/api/v1/admin/outbound/endpoints", { token }));
      renderDead(await api("/api/v1/admin/outbound/messages?status=dead&limit=200", { token }));
    } catch (err) {
      $("endpoint-error").textContent = `加载失败：${err.message}`;
    }
  }

  $("endpoint-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("endpoint-error").textContent = "";
    try {
      showSecret(await api("/api/v1/admin/outbound/endpoints/app", { method: "PUT", token, body: { url: $("url").value } }));
    } catch (err) {
      $("endpoint-error").textContent = `保存失败：${kefu.describe(err.detail)}`;
    }
  });
  $("retry-all").addEventListener("click", async () => {
    const res = await api("/api/v1/admin/outbound/dead-letters/retry", { method: "POST", token });
    toast(`已重新投递 ${res.requeued} 条`);
    load();
  });

  const auth = kefu.loginFlow({
    scope: "outbound", roles: [], form: $("login-form"), errorBox: $("login-error"),
    onLogin: ({ token: t, claims }) => {
      token = t;
      $("login").hidden = true;
      $("app").hidden = false;
      $("me-name").textContent = `${claims.name}（${kefu.ROLE_NAMES[claims.role] || claims.role}）`;
      load();
    },
    onLogout: () => location.reload(),
  });
  $("logout").addEventListener("click", () => auth.logout());
})();
