/* kefu web pages: shared helpers. Every piece of data is put on the page as text (textContent / createTextNode),
   never as HTML, so a shopper's "<script>" stays a harmless string. */
"use strict";

const kefu = (() => {
  /** Build an element. attrs: class, text, dataset {}, on{Event} handlers, any other attribute. Children: nodes or
   *  strings (strings become text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElementNS(
      tag === "svg" || (attrs && attrs.svg) ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false || key === "svg") continue;
      if (key === "class") node.setAttribute("class", value);
      else if (key === "text") node.textContent = String(value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (key === "value" && "value" in node) node.value = value;
      else if (key === "checked" || key === "disabled" || key === "selected") node[key] = Boolean(value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** An SVG element (charts). */
  function svg(tag, attrs, ...children) {
    return el(tag, { ...(attrs || {}), svg: true }, ...children);
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  /** A failed call. Domain errors answer {detail: English, code, message: 中文, context}: `message` is the Chinese
      reason, `code` the error's name and `context` its facts (e.g. the versions of a conflicting edit). */
  class ApiError extends Error {
    constructor(status, detail, body) {
      super(describe(detail) || `HTTP ${status}`);
      this.status = status;
      this.detail = detail;
      this.body = body;  // the whole JSON answer
      this.code = body && typeof body === "object" ? body.code || null : null;
      this.context = (body && typeof body === "object" && body.context) || {};
    }
  }

  function describe(detail) {
    if (!detail) return "";
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map(describe).join("；");
    if (detail.message) {
      const where = [detail.row ? `第 ${detail.row} 行` : "", detail.field ? `字段 ${detail.field}` : ""]
        .filter(Boolean).join("，");
      return where ? `${detail.message}（${where}）` : detail.message;
    }
    if (detail.msg) return `${(detail.loc || []).slice(1).join(".")} ${detail.msg}`.trim();
    if (detail.detail) return describe(detail.detail);
    return JSON.stringify(detail);
  }

  /** Token storage per scope (sessionStorage: a closed tab logs out). Pages that link to each other share a scope,
   *  so that following a link does not ask to sign in again (the supervisor's dashboard, monitor and team pages). */
  function tokenKey(scope) { return `kefu.token.${scope}`; }

  async function api(path, { method = "GET", body, token, form, raw } = {}) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    let payload;
    if (form) payload = form;
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const res = await fetch(path, { method, headers, body: payload });
    if (raw && res.ok) return res;
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (_e) { data = text; }
    }
    if (!res.ok) {
      // domain errors carry a Chinese "message" for people next to the English "detail" for logs
      const shown = data && data.code && typeof data.message === "string" ? { message: data.message, code: data.code } : data;
      throw new ApiError(res.status, shown && shown.detail !== undefined ? shown.detail : shown, data);
    }
    return data;
  }

  function decodeToken(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const json = decodeURIComponent(Array.from(atob(part), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
      return JSON.parse(json);
    } catch (_e) {
      return null;
    }
  }

  const ROLE_NAMES = { agent: "客服", content: "内容运营", supervisor: "主管", admin: "管理员" };

  /**
   * Wire a login form. On success (and on page load with a stored, unexpired token of an allowed role) calls
   * onLogin({token, claims}). Returns {logout()}.
   */
  function loginFlow({ scope, roles, form, errorBox, onLogin, onLogout }) {
    const key = tokenKey(scope);
    const allowed = new Set([...roles, "admin"]);

    function accept(token) {
      const claims = decodeToken(token);
      if (!claims || claims.exp * 1000 < Date.now()) return false;
      if (!allowed.has(claims.role)) {
        errorBox.textContent = `当前账号角色（${ROLE_NAMES[claims.role] || claims.role}）无权使用此页面。`;
        return false;
      }
      sessionStorage.setItem(key, token);
      onLogin({ token, claims });
      return true;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      errorBox.textContent = "";
      const data = new FormData(form);
      try {
        const res = await api("/api/v1/auth/login", {
          method: "POST", body: { username: String(data.get("username") || ""), password: String(data.get("password") || "") },
        });
        accept(res.access_token);
      } catch (err) {
        errorBox.textContent = err.status === 401 ? "用户名或密码错误，请重试。" : `登录失败：${err.message}`;
      }
    });

    const stored = sessionStorage.getItem(key);
    if (stored && !accept(stored)) sessionStorage.removeItem(key);

    return {
      logout() {
        sessionStorage.removeItem(key);
        if (onLogout) onLogout();
      },
    };
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = typeof iso === "number" ? new Date(iso) : new Date(iso);
    if (Number.isNaN(d.getTime())) return "";
    return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function fmtDateTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return "";
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function fmtPct(v) { return v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`; }

  function fmtSeconds(v) {
    if (v === null || v === undefined) return "—";
    if (v < 60) return `${Math.round(v)} 秒`;
    if (v < 3600) return `${Math.floor(v / 60)} 分 ${Math.round(v % 60)} 秒`;
    return `${Math.floor(v / 3600)} 小时 ${Math.round((v % 3600) / 60)} 分`;
  }

  /** A queue estimate, worded as the gateway words it (router/gateway/service.py format_eta): "预计等待" + this. */
  function fmtEta(seconds) {
    if (seconds === null || seconds === undefined) return "几分钟";
    if (seconds < 60) return "1分钟以内";
    return `约${Math.round(seconds / 60)}分钟`;
  }

  function uid(prefix) {
    const bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** A short-lived notice at the top right. */
  function toast(message, kind = "info") {
    let box = document.getElementById("kefu-toasts");
    if (!box) {
      box = el("div", { id: "kefu-toasts", class: "toasts", role: "status", "aria-live": "polite" });
      document.body.append(box);
    }
    const item = el("div", { class: `toast toast-${kind}`, text: message });
    box.append(item);
    setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
  }

  /** Save a Blob as a file download. */
  function download(blob, filename) {
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function wsUrl(path) {
    return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
  }

  return { el, svg, clear, api, ApiError, describe, loginFlow, decodeToken, fmtTime, fmtDateTime, fmtPct, fmtSeconds,
    fmtEta, uid, toast, download, wsUrl, ROLE_NAMES };
})();
